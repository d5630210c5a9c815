-- Runs the rendered v2 action (arg[1]) outside HAProxy, arg[2] times, with Debian's lua5.3 and the
-- same luaossl: a stand-in for the few HAProxy calls it makes (core.register_action, core.now, the
-- txn fetches, converters and header calls). Prints one line per request:
-- <i> TAB <Signature-Input> TAB <Signature> (empty when the action set none). Test code only (test/gateways/haproxy/lua-action.test.ts).
local action
core = {
  register_action = function(_, _, fn) action = fn end,
  now = function() return { sec = 1796600000, usec = 0 } end,
}
dofile(arg[1])

local B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
local function base64(s)
  return ((s:gsub(".", function(c)
    local bits = ""
    local b = c:byte()
    for i = 8, 1, -1 do bits = bits .. (b % 2 ^ i - b % 2 ^ (i - 1) > 0 and "1" or "0") end
    return bits
  end) .. "0000"):gsub("%d%d%d?%d?%d?%d?", function(x)
    if #x < 6 then return "" end
    local c = 0
    for i = 1, 6 do c = c + (x:sub(i, i) == "1" and 2 ^ (6 - i) or 0) end
    return B64:sub(c + 1, c + 1)
  end) .. ({ "", "==", "=" })[#s % 3 + 1])
end
local function hex(s) return (s:gsub(".", function(c) return string.format("%02X", c:byte()) end)) end

for i = 1, tonumber(arg[2]) do
  local out = {}
  local txn = {
    http = {
      req_get_headers = function() return {} end,
      req_set_header = function(_, name, value) out[name] = value end,
      req_del_header = function() end,
    },
    f = {
      req_fhdr = function(_, name) if name == "x-stella-scan-id" then return "scan:" .. i end return nil end,
      query = function() return "i=" .. i end,
      method = function() return "GET" end,
      path = function() return "/p" end,
    },
    c = { hex = function(_, s) return hex(s) end, base64 = function(_, s) return base64(s) end },
    get_var = function(_, name) return ({ ["txn.stella_peer"] = string.rep("ab", 32), ["txn.stella_peer_id"] = "scanner-01" })[name] end,
    set_var = function(_, _, value) out.refused = value end,
    Warning = function(_, m) io.stderr:write(m, "\n") end,
    Alert = function(_, m) io.stderr:write(m, "\n") end,
  }
  action(txn)
  if out.refused then error("refused: " .. out.refused) end
  print(i .. "\t" .. (out["Signature-Input"] or "") .. "\t" .. (out["Signature"] or ""))
end
