#!/usr/bin/env python3
"""Independent reference generator of golden exchanges for the five 2011 HyBi
handshake proposals specified in docs/proposals/*.md.

Standard library only (AES-128 is implemented below, checked against the
FIPS-197 vector; if the `cryptography` package happens to be importable the
self-test also cross-checks AES-CTR against it).  No Rust code is used.

Usage:
  gen_golden.py              write scripts/golden/out/NAME.json and refresh the
                             generated example sections of docs/proposals/NAME.md
  gen_golden.py --check      regenerate in memory; exit 1 if any JSON file or any
                             generated doc section differs from what is on disk
  gen_golden.py --selftest   run the self-tests only

Everything is deterministic: every random value of a real run (keys, nonces,
masks) is a fixed input listed in each JSON file's "inputs" object.
"""

import base64
import hashlib
import hmac
import json
import os
import re
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OUT_DIR = os.path.join(ROOT, "scripts", "golden", "out")
DOC_DIR = os.path.join(ROOT, "docs", "proposals")

# GUIDs. WS_GUID: RFC 6455 section 1.3 / Huang et al. section IV-C.
# MASK_GUID: Huang et al. section IV-D ("Our Proposal").
WS_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
MASK_GUID = b"C1BA787A-0556-49F3-B6AE-32E5376F992B"

# ---------------------------------------------------------------------------
# AES-128 (encryption direction only; CTR mode needs nothing else)
# ---------------------------------------------------------------------------


def _xtime(a):
    a <<= 1
    return (a ^ 0x11B) if a & 0x100 else a


def _gmul(a, b):
    r = 0
    while b:
        if b & 1:
            r ^= a
        a = _xtime(a)
        b >>= 1
    return r


def _make_sbox():
    sbox = [0] * 256
    for x in range(256):
        # multiplicative inverse in GF(2^8) (0 -> 0)
        inv = 0
        if x:
            for y in range(1, 256):
                if _gmul(x, y) == 1:
                    inv = y
                    break
        s = inv
        for i in range(1, 5):
            s ^= ((inv << i) | (inv >> (8 - i))) & 0xFF
        sbox[x] = s ^ 0x63
    return sbox


SBOX = _make_sbox()


def aes128_expand(key):
    assert len(key) == 16
    w = [list(key[4 * i:4 * i + 4]) for i in range(4)]
    rcon = 1
    for i in range(4, 44):
        t = list(w[i - 1])
        if i % 4 == 0:
            t = t[1:] + t[:1]
            t = [SBOX[b] for b in t]
            t[0] ^= rcon
            rcon = _xtime(rcon) & 0xFF
        w.append([w[i - 4][j] ^ t[j] for j in range(4)])
    return [sum(w[4 * r:4 * r + 4], []) for r in range(11)]


def aes128_encrypt_block(round_keys, block):
    s = [b ^ k for b, k in zip(block, round_keys[0])]
    for rnd in range(1, 11):
        s = [SBOX[b] for b in s]
        # ShiftRows; state is column-major: s[c*4 + r]
        s = [s[((c + r) % 4) * 4 + r] for c in range(4) for r in range(4)]
        if rnd != 10:
            m = []
            for c in range(4):
                a0, a1, a2, a3 = s[4 * c:4 * c + 4]
                m += [
                    _gmul(a0, 2) ^ _gmul(a1, 3) ^ a2 ^ a3,
                    a0 ^ _gmul(a1, 2) ^ _gmul(a2, 3) ^ a3,
                    a0 ^ a1 ^ _gmul(a2, 2) ^ _gmul(a3, 3),
                    _gmul(a0, 3) ^ a1 ^ a2 ^ _gmul(a3, 2),
                ]
            s = m
        s = [b ^ k for b, k in zip(s, round_keys[rnd])]
    return bytes(s)


def aes128_ctr(key, nonce8, data):
    """AES-128-CTR as specified in docs/proposals/connect-masked.md:
    counter block i = nonce (8 bytes) || BE64(i), i = 0, 1, 2, ...
    The keystream starts at block 0 for every protected unit (frame or metadata)."""
    assert len(nonce8) == 8
    rk = aes128_expand(key)
    out = bytearray()
    for i in range(0, len(data), 16):
        ks = aes128_encrypt_block(rk, nonce8 + (i // 16).to_bytes(8, "big"))
        chunk = data[i:i + 16]
        out += bytes(a ^ b for a, b in zip(chunk, ks))
    return bytes(out)


# ---------------------------------------------------------------------------
# Shared helpers
# ---------------------------------------------------------------------------


def b64(b):
    return base64.b64encode(b).decode("ascii")


def accept_rfc6455(key_text):
    """base64(SHA-1(key-as-ASCII-text || WS_GUID)), RFC 6455 section 4.2.2."""
    return b64(hashlib.sha1(key_text.encode("ascii") + WS_GUID).digest())


def frame(opcode, payload, mask=None, fin=True):
    """RFC 6455 section 5.2 frame. mask: 4 bytes -> MASK bit set, payload XORed."""
    b0 = (0x80 if fin else 0) | opcode
    n = len(payload)
    mbit = 0x80 if mask is not None else 0
    if n <= 125:
        hdr = bytes([b0, mbit | n])
    elif n <= 0xFFFF:
        hdr = bytes([b0, mbit | 126]) + n.to_bytes(2, "big")
    else:
        hdr = bytes([b0, mbit | 127]) + n.to_bytes(8, "big")
    if mask is None:
        return hdr + payload
    assert len(mask) == 4
    return hdr + mask + bytes(c ^ mask[i % 4] for i, c in enumerate(payload))


def head(lines):
    return ("".join(l + "\r\n" for l in lines) + "\r\n").encode("ascii")


def esc(b):
    """Escaped-text rendering: printable ASCII as is (except backquote, which is
    \\x60 so that markdown code spans stay intact), backslash doubled, \\r and
    \\n as escapes, every other byte as \\xNN."""
    out = []
    for c in b:
        if c == 0x5C:
            out.append("\\\\")
        elif c == 0x60:
            out.append("\\x60")
        elif c == 0x0D:
            out.append("\\r")
        elif c == 0x0A:
            out.append("\\n")
        elif 0x20 <= c <= 0x7E:
            out.append(chr(c))
        else:
            out.append("\\x%02x" % c)
    return "".join(out)


def step(frm, kind, data, note):
    return {"from": frm, "kind": kind, "note": note, "hex": data.hex(), "text": esc(data)}


# Example payloads common to every variant (brief: text "Hello", a binary
# 3-byte frame and a close 1000 frame, in each direction).
P_TEXT = b"Hello"
P_BIN = bytes.fromhex("010203")
P_CLOSE = (1000).to_bytes(2, "big")
EXAMPLE_FRAMES = [("text", 0x1, P_TEXT), ("binary", 0x2, P_BIN), ("close", 0x8, P_CLOSE)]

# Fixed client masking keys (RFC 6455 style XOR masking), one fresh key per frame.
CLIENT_MASKS = {"text": "37fa213d", "binary": "0c7e5a91", "close": "5b2d9c04"}

KEY1_RAW = b"the sample nonce"       # RFC 6455 section 1.3 example nonce
KEY1 = b64(KEY1_RAW)                 # dGhlIHNhbXBsZSBub25jZQ==
HOST = "server.example.com"
PATH = "/chat"
ORIGIN = "http://example.com"
URL = "ws://server.example.com/chat"


def xor_frames(client_masked):
    """Example frames for the variants that use the RFC 6455 frame layout.
    client_masked: True -> client frames carry MASK=1 + key; server never masks."""
    out = []
    for frm in ("client", "server"):
        for kind, op, payload in EXAMPLE_FRAMES:
            mask = bytes.fromhex(CLIENT_MASKS[kind]) if (frm == "client" and client_masked) else None
            data = frame(op, payload, mask)
            out.append({
                "from": frm, "kind": kind, "opcode": op, "payload_hex": payload.hex(),
                "mask_hex": mask.hex() if mask else None,
                "hex": data.hex(), "text": esc(data),
            })
    return out


# ---------------------------------------------------------------------------
# Variants
# ---------------------------------------------------------------------------


def gen_hello():
    nc = bytes.fromhex("9f1c8e3a5b7d2046c1e08f3b6a4d9e72")
    ns = bytes.fromhex("3c7a91e4d2058bf61a0c47e9b8d3256f")
    m1 = bytes.fromhex("a4c3b2e1")
    m2 = bytes.fromhex("6e1f0a93")
    ps = hashlib.sha1(nc + ns + WS_GUID).digest()
    pc = hashlib.sha1(ns + nc + WS_GUID).digest()
    req = head([
        "GET %s HTTP/1.1" % PATH,
        "Host: %s" % HOST,
        "Upgrade: WebSocket",
        "Connection: Upgrade",
        "Origin: %s" % ORIGIN,
        "Sec-WebSocket-Handshake: hello",
    ])
    resp = head([
        "HTTP/1.1 101 Switching Protocols",
        "Upgrade: WebSocket",
        "Connection: Upgrade",
    ])
    h1 = frame(0xB, nc, m1)
    h2 = frame(0xB, ns + ps)
    h3 = frame(0xB, pc, m2)
    steps = [
        step("client", "http-head", req, "GET + Upgrade request"),
        step("server", "http-head", resp, "101 Switching Protocols"),
        step("client", "frame", h1, "client HELLO: Nc (16 bytes), masked"),
        step("server", "frame", h2, "server HELLO: Ns (16) || Ps = SHA-1(Nc || Ns || GUID) (20)"),
        step("client", "frame", h3, "client HELLO: Pc = SHA-1(Ns || Nc || GUID) (20), masked; connection open"),
    ]
    return {
        "inputs": {
            "url": URL, "host": HOST, "path": PATH, "origin": ORIGIN,
            "client_nonce_Nc_hex": nc.hex(), "server_nonce_Ns_hex": ns.hex(),
            "client_hello1_mask_hex": m1.hex(), "client_hello2_mask_hex": m2.hex(),
            "client_frame_masks_hex": CLIENT_MASKS,
            "payloads_hex": {"text": P_TEXT.hex(), "binary": P_BIN.hex(), "close": P_CLOSE.hex()},
            "guid": WS_GUID.decode(),
        },
        "derived": {"server_proof_Ps_hex": ps.hex(), "client_proof_Pc_hex": pc.hex()},
        "steps": steps,
        "frames": xor_frames(True),
    }


def meta_plain():
    return ("%s %s" % (URL, ORIGIN)).encode("ascii")


def hmac_sha1_text_key(key_text, msg):
    return hmac.new(key_text.encode("ascii"), msg, hashlib.sha1).digest()


def gen_connect_common(masked):
    accept = b64(hmac_sha1_text_key(KEY1, WS_GUID))
    kmask_full = hmac_sha1_text_key(KEY1, MASK_GUID)
    kmask = kmask_full[:16]
    inputs = {
        "url": URL, "origin": ORIGIN,
        "connection_key_raw_hex": KEY1_RAW.hex(), "connection_key_b64": KEY1,
        "payloads_hex": {"text": P_TEXT.hex(), "binary": P_BIN.hex(), "close": P_CLOSE.hex()},
        "accept_guid": WS_GUID.decode(),
    }
    derived = {"accept": accept, "metadata_plaintext": meta_plain().decode()}
    if masked:
        mnonce = bytes.fromhex("6d65746164617461")  # "metadata"
        mct = aes128_ctr(kmask, mnonce, meta_plain())
        meta_value = b64(mnonce + mct)
        inputs["mask_guid"] = MASK_GUID.decode()
        inputs["metadata_nonce_hex"] = mnonce.hex()
        derived["hmac_sha1_mask_guid_hex"] = kmask_full.hex()
        derived["aes_key_hex"] = kmask.hex()
        derived["metadata_ciphertext_hex"] = mct.hex()
        derived["metadata_header_value"] = meta_value
    else:
        meta_value = meta_plain().decode()
    req = head([
        "CONNECT websocket.invalid:443 HTTP/1.1",
        "Host: websocket.invalid:443",
        "Sec-WebSocket-Key: %s" % KEY1,
        "Sec-WebSocket-Metadata: %s" % meta_value,
    ])
    resp = head([
        "HTTP/1.1 200 OK",
        "Sec-WebSocket-Accept: %s" % accept,
    ])
    steps = [
        step("client", "http-head", req, "CONNECT request"),
        step("server", "http-head", resp, "200 OK with HMAC proof; connection open"),
    ]
    if not masked:
        frames = xor_frames(False)
    else:
        nonces = {
            ("client", "text"): "1f2e3d4c5b6a7988",
            ("client", "binary"): "0a1b2c3d4e5f6071",
            ("client", "close"): "8899aabbccddeeff",
            ("server", "text"): "f0e1d2c3b4a59687",
            ("server", "binary"): "1234567890abcdef",
            ("server", "close"): "fedcba9876543210",
        }
        inputs["frame_nonces_hex"] = {"%s_%s" % k: v for k, v in nonces.items()}
        frames = []
        for frm in ("client", "server"):
            for kind, op, payload in EXAMPLE_FRAMES:
                n = bytes.fromhex(nonces[(frm, kind)])
                plain = frame(op, payload)
                data = n + aes128_ctr(kmask, n, plain)
                frames.append({
                    "from": frm, "kind": kind, "opcode": op, "payload_hex": payload.hex(),
                    "nonce_hex": n.hex(), "plain_frame_hex": plain.hex(),
                    "hex": data.hex(), "text": esc(data),
                })
    return {"inputs": inputs, "derived": derived, "steps": steps, "frames": frames}


def gen_connect_masked():
    return gen_connect_common(True)


def gen_connect():
    return gen_connect_common(False)


def gen_upgrade_connect():
    key2_raw = b"second key nonce"
    key2 = b64(key2_raw)
    accept1 = accept_rfc6455(KEY1)
    accept2 = b64(hashlib.sha1((KEY1 + key2).encode("ascii") + WS_GUID).digest())
    get = head([
        "GET %s HTTP/1.1" % PATH,
        "Host: %s" % HOST,
        "Upgrade: WebSocket",
        "Connection: Upgrade",
        "Origin: %s" % ORIGIN,
        "Sec-WebSocket-Handshake: upgrade-connect",
        "Sec-WebSocket-Key: %s" % KEY1,
    ])
    r101 = head([
        "HTTP/1.1 101 Switching Protocols",
        "Upgrade: WebSocket",
        "Connection: Upgrade",
        "Sec-WebSocket-Accept: %s" % accept1,
    ])
    conn = head([
        "CONNECT websocket.invalid:443 HTTP/1.1",
        "Host: websocket.invalid:443",
        "Sec-WebSocket-Key: %s" % key2,
    ])
    r200 = head([
        "HTTP/1.1 200 OK",
        "Sec-WebSocket-Accept: %s" % accept2,
    ])
    steps = [
        step("client", "http-head", get, "GET + Upgrade request (key K1)"),
        step("server", "http-head", r101, "101 with Accept1 = base64(SHA-1(K1 || GUID))"),
        step("client", "http-head", conn, "CONNECT request (key K2), sent only after the 101 validated"),
        step("server", "http-head", r200, "200 with Accept2 = base64(SHA-1(K1 || K2 || GUID)); connection open"),
    ]
    return {
        "inputs": {
            "url": URL, "host": HOST, "path": PATH, "origin": ORIGIN,
            "key1_raw_hex": KEY1_RAW.hex(), "key1_b64": KEY1,
            "key2_raw_hex": key2_raw.hex(), "key2_b64": key2,
            "client_frame_masks_hex": CLIENT_MASKS,
            "payloads_hex": {"text": P_TEXT.hex(), "binary": P_BIN.hex(), "close": P_CLOSE.hex()},
            "guid": WS_GUID.decode(),
        },
        "derived": {"accept1": accept1, "accept2": accept2},
        "steps": steps,
        "frames": xor_frames(True),
    }


def gen_post():
    req = head([
        "POST %s HTTP/1.1" % PATH,
        "Host: %s" % HOST,
        "Sec-WebSocket-Key: %s" % KEY1,
    ])
    resp = head([
        "HTTP/1.1 200 OK",
        "Sec-WebSocket-Accept: %s" % KEY1,
    ])
    steps = [
        step("client", "http-head", req, "POST request"),
        step("server", "http-head", resp, "200 OK echoing the key; connection open"),
    ]
    return {
        "inputs": {
            "host": HOST, "path": PATH,
            "connection_key_raw_hex": KEY1_RAW.hex(), "connection_key_b64": KEY1,
            "payloads_hex": {"text": P_TEXT.hex(), "binary": P_BIN.hex(), "close": P_CLOSE.hex()},
        },
        "derived": {"accept": KEY1},
        "steps": steps,
        "frames": xor_frames(False),
    }


VARIANTS = [
    ("hello", "reconstructed", gen_hello),
    ("connect-masked", "primary text (handshake, key derivation, CTR nonce placement); reconstructed (hash, key encoding, nonce size, metadata syntax, frame layout)", gen_connect_masked),
    ("connect", "reconstructed (from the primary-text CONNECT handshake with masking removed)", gen_connect),
    ("upgrade-connect", "reconstructed", gen_upgrade_connect),
    ("post", "primary text (handshake); reconstructed (framing)", gen_post),
]


def build(name, status, fn):
    body = fn()
    steps = body["steps"]
    first_c = next(s for s in steps if s["from"] == "client")
    first_s = next(s for s in steps if s["from"] == "server")
    doc = {
        "_about": ("Golden exchange for the '%s' proposal, generated by scripts/golden/gen_golden.py "
                   "from the fixed inputs below (spec: docs/proposals/%s.md). All byte fields are lowercase "
                   "hex; 'text' fields are the same bytes escaped (\\r, \\n, \\\\, backquote as \\x60, \\xNN)." % (name, name)),
        "variant": name,
        "status": status,
        "inputs": body["inputs"],
        "derived": body["derived"],
        "client_handshake": first_c["hex"],
        "server_handshake": first_s["hex"],
        "handshake_steps": steps,
        "frames": body["frames"],
    }
    return doc


# ---------------------------------------------------------------------------
# Markdown example sections
# ---------------------------------------------------------------------------


def hex_lines(h):
    b = bytes.fromhex(h)
    return [" ".join("%02x" % c for c in b[i:i + 16]) for i in range(0, len(b), 16)]


def text_lines(t):
    # break after every \n escape for readability
    parts = t.split("\\n")
    lines = [p + "\\n" for p in parts[:-1]]
    if parts[-1]:
        lines.append(parts[-1])
    return lines


def render_md(doc):
    out = []
    out.append("Generated by `scripts/golden/gen_golden.py` (do not edit by hand; "
               "`python3 scripts/golden/gen_golden.py --check` verifies it). "
               "Golden file: `scripts/golden/out/%s.json`." % doc["variant"])
    out.append("")
    out.append("Fixed inputs:")
    out.append("")
    out.append("```text")
    for k, v in doc["inputs"].items():
        out.append("%s = %s" % (k, json.dumps(v)))
    out.append("```")
    out.append("")
    out.append("Derived values:")
    out.append("")
    out.append("```text")
    for k, v in doc["derived"].items():
        out.append("%s = %s" % (k, json.dumps(v)))
    out.append("```")
    out.append("")
    out.append("Handshake, in wire order:")
    for i, s in enumerate(doc["handshake_steps"], 1):
        out.append("")
        out.append("%d. %s -> %s, %s (%d bytes): %s" % (
            i, s["from"], "server" if s["from"] == "client" else "client", s["kind"],
            len(s["hex"]) // 2, s["note"]))
        out.append("")
        out.append("   ```text")
        for l in (text_lines(s["text"]) if s["kind"] == "http-head" else [s["text"]]):
            out.append("   " + l)
        out.append("   ```")
        out.append("")
        out.append("   ```hex")
        for l in hex_lines(s["hex"]):
            out.append("   " + l)
        out.append("   ```")
    out.append("")
    out.append("Example frames (each exactly as on the wire):")
    out.append("")
    out.append("| from | kind | payload | mask / nonce | wire hex | escaped |")
    out.append("|---|---|---|---|---|---|")
    for f in doc["frames"]:
        mn = f.get("mask_hex") or f.get("nonce_hex") or "-"
        out.append("| %s | %s | `%s` | `%s` | `%s` | `%s` |" % (
            f["from"], f["kind"], f["payload_hex"], mn,
            " ".join(hex_lines(f["hex"])), f["text"].replace("|", "\\|")))
    if any("plain_frame_hex" in f for f in doc["frames"]):
        out.append("")
        out.append("Plain RFC 6455 frame inside each encrypted frame (before AES-128-CTR):")
        out.append("")
        out.append("| from | kind | plain frame hex |")
        out.append("|---|---|---|")
        for f in doc["frames"]:
            out.append("| %s | %s | `%s` |" % (f["from"], f["kind"], " ".join(hex_lines(f["plain_frame_hex"]))))
    return "\n".join(out) + "\n"


BEGIN = "<!-- BEGIN GENERATED EXAMPLE (gen_golden.py) -->"
END = "<!-- END GENERATED EXAMPLE -->"


def splice(md_text, section):
    pat = re.compile(re.escape(BEGIN) + r"\n.*?" + re.escape(END), re.S)
    if not pat.search(md_text):
        return None
    return pat.sub(lambda m: BEGIN + "\n" + section + END, md_text, count=1)


# ---------------------------------------------------------------------------
# Self-tests (independent known-answer vectors)
# ---------------------------------------------------------------------------


def selftest():
    # FIPS-197 Appendix C.1 (AES-128)
    rk = aes128_expand(bytes.fromhex("000102030405060708090a0b0c0d0e0f"))
    assert aes128_encrypt_block(rk, bytes.fromhex("00112233445566778899aabbccddeeff")).hex() == \
        "69c4e0d86a7b0430d8cdb78070b4c55a", "AES-128 FIPS-197 vector"
    # NIST SP 800-38A F.5.1 CTR-AES128 block 1 (full 16-byte counter, checked via the block function)
    rk = aes128_expand(bytes.fromhex("2b7e151628aed2a6abf7158809cf4f3c"))
    ks = aes128_encrypt_block(rk, bytes.fromhex("f0f1f2f3f4f5f6f7f8f9fafbfcfdfeff"))
    ct = bytes(a ^ b for a, b in zip(ks, bytes.fromhex("6bc1bee22e409f96e93d7e117393172a")))
    assert ct.hex() == "874d6191b620e3261bef6864990db6ce", "SP 800-38A CTR vector"
    # RFC 6455 section 1.3 accept
    assert accept_rfc6455("dGhlIHNhbXBsZSBub25jZQ==") == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
    # RFC 6455 section 5.7 masked "Hello"
    assert frame(1, b"Hello", bytes.fromhex("37fa213d")).hex() == "818537fa213d7f9f4d5158"
    assert frame(1, b"Hello").hex() == "810548656c6c6f"
    # VARIANTS.md section 9 [V] vectors for HMAC-SHA1 with the base64 text as key
    assert b64(hmac_sha1_text_key(KEY1, WS_GUID)) == "I0LaJwpzqqaocDChnoeI5+bJdnQ="
    assert hmac_sha1_text_key(KEY1, MASK_GUID)[:16].hex() == "388196be0c219302508f489919b62355"
    # Optional cross-check of the CTR construction against the `cryptography` package.
    try:
        from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
    except Exception:
        return "selftest ok (cryptography package not available; pure-Python AES checked against FIPS-197/SP 800-38A)"
    key = bytes.fromhex("388196be0c219302508f489919b62355")
    nonce = bytes.fromhex("1f2e3d4c5b6a7988")
    data = bytes(range(50))
    enc = Cipher(algorithms.AES(key), modes.CTR(nonce + bytes(8))).encryptor()
    assert enc.update(data) + enc.finalize() == aes128_ctr(key, nonce, data), "CTR vs cryptography"
    return "selftest ok (including cross-check against cryptography)"


def main(argv):
    msg = selftest()
    if "--selftest" in argv:
        print(msg)
        return 0
    check = "--check" in argv
    bad = []
    for name, status, fn in VARIANTS:
        doc = build(name, status, fn)
        js = json.dumps(doc, indent=2) + "\n"
        jpath = os.path.join(OUT_DIR, name + ".json")
        mdpath = os.path.join(DOC_DIR, name + ".md")
        section = render_md(doc)
        md = open(mdpath, encoding="utf-8").read() if os.path.exists(mdpath) else None
        new_md = splice(md, section) if md is not None else None
        if check:
            cur = open(jpath, encoding="utf-8").read() if os.path.exists(jpath) else None
            if cur != js:
                bad.append(jpath)
            if md is None or new_md is None or new_md != md:
                bad.append(mdpath)
        else:
            os.makedirs(OUT_DIR, exist_ok=True)
            with open(jpath, "w", encoding="utf-8", newline="\n") as f:
                f.write(js)
            if new_md is not None and new_md != md:
                with open(mdpath, "w", encoding="utf-8", newline="\n") as f:
                    f.write(new_md)
            elif new_md is None:
                print("note: %s has no generated-example markers; not updated" % mdpath, file=sys.stderr)
    print(msg)
    if bad:
        print("MISMATCH (run gen_golden.py to regenerate):\n  " + "\n  ".join(bad), file=sys.stderr)
        return 1
    print("%s: %d variants" % ("check ok" if check else "written", len(VARIANTS)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
