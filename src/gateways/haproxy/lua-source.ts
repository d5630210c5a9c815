/**
 * The per-request code of the Lua action that stamps provenance v2 in HAProxy
 * (docs/provenance.md#part-2-version-2, docs/gateways/haproxy.md#provenance-v2), the same for every hop: `v2.ts` renders
 * the hop's constants (`HOP`, `KEY_ENV`, `REFUSE_VAR`, the module paths) above it.
 *
 * What it does per request, in order: parse `Signature-Input` and `Signature` (RFC 9651 §4.2,
 * strictly; a field it cannot parse is refused with 400); at the edge drop the members of our
 * profile; find the previous hop's member; build the signature base of RFC 9421 §2.5; sign; append.
 */

/** The Lua source below the constants; `${…}` never appears in it (String.raw keeps every `\`). */
export const V2_LUA_BODY = String.raw`
local digest = require("openssl.digest")
local hmac = require("openssl.hmac")
local pkey = require("openssl.pkey")
local rand = require("openssl.rand")

local TAG = "stella-provenance-v2"

-- RFC 9651 §4.2, enough of it to find, keep and drop members exactly: each member's key, its raw
-- text (kept byte for byte when it passes), the kind of its value and its parameters. Anything
-- else is a parse error, and the whole field is refused (never half understood).
local function parse_dictionary(s)
  local pos, n = 1, #s
  local function peek() return s:sub(pos, pos) end
  local function fail(what) error({ malformed = what .. " at byte " .. pos }) end
  local function sp() while peek() == " " do pos = pos + 1 end end
  local function ows() while peek() == " " or peek() == "\t" do pos = pos + 1 end end
  local function key()
    local k = s:match("^[a-z*][a-z0-9_.*-]*", pos)
    if not k then fail("key expected") end
    pos = pos + #k
    return k
  end
  local function bare()
    local c = peek()
    if c == '"' then
      local out, i = {}, pos + 1
      while true do
        local ch = s:sub(i, i)
        if ch == "" then fail("unterminated string") end
        if ch == "\\" then
          local nx = s:sub(i + 1, i + 1)
          if nx ~= '"' and nx ~= "\\" then fail("bad escape") end
          out[#out + 1] = nx; i = i + 2
        elseif ch == '"' then pos = i + 1; return "string", table.concat(out)
        else
          local b = ch:byte()
          if b < 0x20 or b > 0x7e then fail("bad string character") end
          out[#out + 1] = ch; i = i + 1
        end
      end
    elseif c == ":" then
      local b64 = s:match("^:([A-Za-z0-9+/=]*):", pos)
      if not b64 then fail("bad byte sequence") end
      pos = pos + #b64 + 2
      return "bytes", b64
    elseif c == "?" then
      local b = s:match("^%?([01])", pos)
      if not b then fail("bad boolean") end
      pos = pos + 2
      return "boolean", b == "1"
    elseif c:match("^[0-9-]$") or c == "@" then
      -- §4.2.4: an Integer has at most 15 digits, a Decimal at most 12 before and 3 after the dot;
      -- a Date (§3.3.7) is "@" and an Integer.
      local whole, frac = s:match("^@?%-?([0-9]+)%.([0-9]+)", pos)
      local num = whole and s:match("^@?%-?[0-9]+%.[0-9]+", pos) or s:match("^@?%-?[0-9]+", pos)
      if not num or (whole and (c == "@" or #whole > 12 or #frac > 3)) or (not whole and #num:gsub("[@-]", "") > 15) then fail("bad number") end
      pos = pos + #num
      return "number", num
    elseif c == "%" then
      -- §4.2.10: a Display String, printable ASCII but '"', with lower-case %xx escapes.
      local d = s:match('^%%"([ !#-~]*)"', pos)
      if not d or d:gsub("%%[0-9a-f][0-9a-f]", ""):find("%%") then fail("bad display string") end
      pos = pos + #d + 3
      return "display", d
    elseif c:match("^[A-Za-z*]$") then
      local t = s:match("^[A-Za-z*][A-Za-z0-9:/!#$%%&'*+.^_|~` + "`" + String.raw`-]*", pos)
      pos = pos + #t
      return "token", t
    end
    fail("item expected")
  end
  local function params()
    local p = {}
    while peek() == ";" do
      pos = pos + 1; sp()
      local k = key()
      local kind, v = "boolean", true
      if peek() == "=" then pos = pos + 1; kind, v = bare() end
      p[k] = { kind = kind, value = v }
    end
    return p
  end
  local members = {}
  sp()
  while pos <= n do
    local start = pos
    local k = key()
    local m = { key = k, value = nil }
    local vstart = pos + 1
    if peek() == "=" then
      pos = pos + 1
      if peek() == "(" then
        pos = pos + 1
        m.kind = "inner"
        while true do
          sp()
          if peek() == ")" then pos = pos + 1; break end
          bare(); params()
          local nx = peek()
          if nx ~= " " and nx ~= ")" then fail("inner list") end
        end
      else
        m.kind, m.value = bare()
      end
    else
      m.kind, m.value = "boolean", true
    end
    m.params = params()
    m.raw = s:sub(start, pos - 1)
    m.value_raw = s:sub(vstart, pos - 1)
    members[#members + 1] = m
    ows()
    if pos > n then break end
    if peek() ~= "," then fail("comma expected") end
    pos = pos + 1; ows()
    if pos > n then fail("trailing comma") end
  end
  return members
end

-- RFC 9651 §4.2: several field lines are one field, joined with ", ".
local function field(headers, name)
  local lines = headers[name]
  if not lines then return nil end
  local parts = {}
  for i = 0, #lines do if lines[i] then parts[#parts + 1] = lines[i] end end
  if #parts == 0 then return nil end
  return table.concat(parts, ", ")
end

local function raws(members)
  local out = {}
  for _, m in ipairs(members) do out[#out + 1] = m.raw end
  return out
end

local function tag_of(m)
  local t = m.params.tag
  return t and t.kind == "string" and t.value or nil
end

-- ECDSA-Sig-Value ::= SEQUENCE { r INTEGER, s INTEGER } (RFC 3279 §2.2.3) into the 64-byte r‖s of
-- RFC 9421 §3.3.4; strict about lengths, so a surprise from the library fails loudly.
local function ecdsa_raw(der)
  if der:byte(1) ~= 0x30 or der:byte(2) ~= #der - 2 or #der > 72 then error("unexpected ECDSA signature encoding") end
  local pos = 3
  local function int()
    if der:byte(pos) ~= 0x02 then error("unexpected ECDSA signature encoding") end
    local len = der:byte(pos + 1)
    if len < 1 or len > 33 then error("unexpected ECDSA integer length") end
    local v = der:sub(pos + 2, pos + 1 + len)
    pos = pos + 2 + len
    if #v == 33 then
      if v:byte(1) ~= 0 then error("unexpected ECDSA integer") end
      v = v:sub(2)
    end
    return string.rep("\0", 32 - #v) .. v
  end
  local r = int()
  local s = int()
  if pos ~= #der + 1 then error("trailing bytes in ECDSA signature") end
  return r .. s
end

-- The key, read once when HAProxy loads this file (before it serves a request).
local secret = os.getenv(KEY_ENV)
if not secret or secret == "" then error(KEY_ENV .. " must hold the v2 signing key of " .. HOP.label .. " (kid " .. HOP.kid .. ")") end
local sign
if HOP.alg == "ecdsa-p256-sha256" then
  local key = pkey.new(secret, "PEM")
  sign = function(base) return ecdsa_raw(key:sign(digest.new("sha256"):update(base))) end
elseif HOP.alg == "hmac-sha256" then
  if not secret:match("^[0-9a-f]+$") or #secret % 2 ~= 0 or #secret < 64 then error(KEY_ENV .. " must hold at least 32 bytes as hex for hmac-sha256") end
  local raw = secret:gsub("..", function(h) return string.char(tonumber(h, 16)) end)
  sign = function(base) return hmac.new(raw, "sha256"):final(base) end
else
  error("alg " .. HOP.alg .. " cannot be signed natively in HAProxy")
end
secret = nil

local function sf_string(v)
  return '"' .. v:gsub('[\\"]', "\\%0") .. '"'
end

local function stamp(txn)
  local headers = txn.http:req_get_headers()
  local inputs = parse_dictionary(field(headers, "signature-input") or "")
  local sigs = parse_dictionary(field(headers, "signature") or "")

  if HOP.strip then
    -- The edge: members of our profile or with our label prefix came from the client; drop them,
    -- and the Signature members of the same labels. Every other member passes untouched.
    local dropped, keep_in, keep_sig = {}, {}, {}
    for _, m in ipairs(inputs) do
      if m.key:sub(1, 7) == "stella-" or tag_of(m) == TAG then dropped[m.key] = true else keep_in[#keep_in + 1] = m end
    end
    for _, m in ipairs(sigs) do
      if not (m.key:sub(1, 7) == "stella-" or dropped[m.key]) then keep_sig[#keep_sig + 1] = m end
    end
    inputs, sigs = keep_in, keep_sig
  end

  for _, m in ipairs(inputs) do if m.key == HOP.label then error({ malformed = HOP.label .. " is already in Signature-Input" }) end end
  local previous
  for _, m in ipairs(sigs) do
    if m.key == HOP.label then error({ malformed = HOP.label .. " is already in Signature" }) end
    if m.key == HOP.previous then
      if previous then error({ malformed = HOP.previous .. " appears twice in Signature" }) end
      if m.kind ~= "bytes" or next(m.params) ~= nil then error({ malformed = HOP.previous .. " is not a bare byte sequence" }) end
      previous = m.value_raw
    end
  end

  local scan_id = txn.f:req_fhdr("x-stella-scan-id")
  -- RFC 9421 §2.5: a signer fails when a covered component is absent. No member is added; the
  -- verifier answers provenance-missing (docs/provenance.md § 4), as for any unstamped request.
  local write = function(list, sig_list)
    if #list > 0 then txn.http:req_set_header("Signature-Input", table.concat(list, ", ")) else txn.http:req_del_header("Signature-Input") end
    if #sig_list > 0 then txn.http:req_set_header("Signature", table.concat(sig_list, ", ")) else txn.http:req_del_header("Signature") end
  end
  if scan_id == nil or (HOP.previous and not previous) then
    if HOP.strip then write(raws(inputs), raws(sigs)) end
    return
  end

  local digest_field = txn.f:req_fhdr("content-digest")
  local query = txn.f:query()
  local covered = { '"@method"', '"@path"', '"@query"' }
  local lines = { '"@method": ' .. txn.f:method(), '"@path": ' .. txn.f:path(), '"@query": ?' .. (query or "") }
  if digest_field then
    covered[#covered + 1] = '"content-digest"'
    lines[#lines + 1] = '"content-digest": ' .. digest_field
  end
  covered[#covered + 1] = '"x-stella-scan-id"'
  lines[#lines + 1] = '"x-stella-scan-id": ' .. scan_id
  if HOP.previous then
    local component = '"signature";key=' .. sf_string(HOP.previous)
    covered[#covered + 1] = component
    lines[#lines + 1] = component .. ": " .. previous
  end
  local nonce = txn.c:hex(rand.bytes(16)):lower()
  local params = "(" .. table.concat(covered, " ") .. ")" ..
    ";created=" .. string.format("%d", core.now().sec) ..
    ";nonce=" .. sf_string(nonce) ..
    ";keyid=" .. sf_string(HOP.kid) ..
    ";alg=" .. sf_string(HOP.alg) ..
    ";tag=" .. sf_string(TAG) ..
    ";peer=" .. sf_string("sha256:" .. txn:get_var("txn.stella_peer")) ..
    ";peer-id=" .. sf_string(txn:get_var("txn.stella_peer_id"))
  lines[#lines + 1] = '"@signature-params": ' .. params

  local list, sig_list = raws(inputs), raws(sigs)
  list[#list + 1] = HOP.label .. "=" .. params
  sig_list[#sig_list + 1] = HOP.label .. "=:" .. txn.c:base64(sign(table.concat(lines, "\n"))) .. ":"
  write(list, sig_list)
end

core.register_action(ACTION, { "http-req" }, function(txn)
  local ok, err = pcall(stamp, txn)
  if ok then return end
  if type(err) == "table" and err.malformed then
    txn:set_var(REFUSE_VAR, "malformed")
    txn:Warning("stella v2: refused: " .. err.malformed)
  else
    txn:set_var(REFUSE_VAR, "internal")
    txn:Alert("stella v2: cannot stamp: " .. tostring(err))
  end
end, 0)`;
