"""An independent DSSE oracle for the interop suite (docs/dsse.md): PAE written from the DSSE v1
protocol, signatures checked with securesystemslib's signer API (Ed25519, ECDSA P-256/P-384,
RSA-PSS) or Python's hmac (HMAC-SHA256), statements read with the json module. It shares no code
with the product.

stdin:  {"mode": "verify", "cases": [{"envelope": {...}, "key": {...}}]}
        {"mode": "sign", "payloadType": "...", "payloadBase64": "..."}
stdout: JSON (see each mode).
"""
import base64
import binascii
import hashlib
import hmac
import json
import sys

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding
from securesystemslib.signer import Signature, SSlibKey

SCHEMES = {
    "ed25519": ("ed25519", "ed25519"),
    "ecdsa-p256-sha256": ("ecdsa", "ecdsa-sha2-nistp256"),
    "ecdsa-p384-sha384": ("ecdsa", "ecdsa-sha2-nistp384"),
    "rsa-pss-sha256": ("rsa", "rsassa-pss-sha256"),
}


# securesystemslib's key schema wants a hex keyid; the product's keyids are not used here.
KEYID = "0" * 64


def pae(payload_type: str, payload: bytes) -> bytes:
    """DSSE v1: "DSSEv1" SP LEN(type) SP type SP LEN(body) SP body."""
    t = payload_type.encode("utf-8")
    return b"DSSEv1 %d %s %d %s" % (len(t), t, len(payload), payload)


def sslib_key(key: dict) -> SSlibKey:
    keytype, scheme = SCHEMES[key["algorithm"]]
    if keytype == "ed25519":
        public = serialization.load_pem_public_key(key["publicPem"].encode())
        raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        keyval = {"public": raw.hex()}
    else:
        keyval = {"public": key["publicPem"]}
    return SSlibKey(KEYID, keytype, scheme, keyval)


def verify_one(envelope: dict, key: dict) -> dict:
    payload = base64.b64decode(envelope["payload"], validate=True)
    message = pae(envelope["payloadType"], payload)
    verified = 0
    for entry in envelope["signatures"]:
        try:
            sig = base64.b64decode(entry.get("sig") or "", validate=True)
        except (binascii.Error, TypeError):
            continue  # DSSE: a signature that cannot be read is skipped
        if not sig:
            continue
        if key["algorithm"] == "hmac-sha256":
            secret = base64.b64decode(key["secretBase64"])
            ok = hmac.compare_digest(hmac.new(secret, message, hashlib.sha256).digest(), sig)
        else:
            try:
                sslib_key(key).verify_signature(Signature(KEYID, sig.hex()), message)
                ok = True
            except Exception:  # UnverifiedSignatureError, VerificationError
                ok = False
        verified += 1 if ok else 0
    statement = None
    if envelope["payloadType"] == "application/vnd.in-toto+json":
        statement = json.loads(payload)
    return {"verified": verified, "paeSha256": hashlib.sha256(message).hexdigest(), "statement": statement}


def sign(request: dict) -> dict:
    """Signs with keys made here, so the product can verify envelopes it did not make."""
    payload = base64.b64decode(request["payloadBase64"])
    message = pae(request["payloadType"], payload)
    out = []
    ed = ed25519.Ed25519PrivateKey.generate()
    out.append(("ed25519", ed.sign(message), ed.public_key()))
    p256 = ec.generate_private_key(ec.SECP256R1())
    out.append(("ecdsa-p256-sha256", p256.sign(message, ec.ECDSA(hashes.SHA256())), p256.public_key()))
    p384 = ec.generate_private_key(ec.SECP384R1())
    out.append(("ecdsa-p384-sha384", p384.sign(message, ec.ECDSA(hashes.SHA384())), p384.public_key()))
    from cryptography.hazmat.primitives.asymmetric import rsa
    rk = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pss = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32)
    out.append(("rsa-pss-sha256", rk.sign(message, pss, hashes.SHA256()), rk.public_key()))
    secret = bytes(range(32))
    out.append(("hmac-sha256", hmac.new(secret, message, hashlib.sha256).digest(), None))
    signed = []
    for algorithm, sig, public in out:
        envelope = {
            "payloadType": request["payloadType"],
            "payload": base64.b64encode(payload).decode(),
            "signatures": [{"keyid": "", "sig": base64.b64encode(sig).decode()}],
        }
        key = {"algorithm": algorithm}
        if public is None:
            key["secretBase64"] = base64.b64encode(secret).decode()
        else:
            key["publicPem"] = public.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()
        signed.append({"envelope": envelope, "key": key})
    return {"signed": signed}


def main() -> None:
    request = json.load(sys.stdin)
    if request["mode"] == "verify":
        json.dump({"results": [verify_one(c["envelope"], c["key"]) for c in request["cases"]]}, sys.stdout)
    elif request["mode"] == "sign":
        json.dump(sign(request), sys.stdout)
    else:
        raise SystemExit(f"unknown mode {request['mode']}")


if __name__ == "__main__":
    main()
