#!/usr/bin/env python3
"""Independent test vectors for crates/mptcp-proto/src/crypto.rs (RFC 8684).

Uses only Python's hashlib/hmac/ipaddress/struct. The printed constants are pasted into
the unit tests of crypto.rs. Run: python3 scripts/gen_crypto_vectors.py
"""
import hashlib
import hmac
import ipaddress
import struct

KEYS = [0x0, 0x1, 0x0123456789ABCDEF, 0xFEDCBA9876543210, 0xFFFFFFFFFFFFFFFF, 0xA5A5A5A55A5A5A5A]


def token(key):
    return struct.unpack(">I", hashlib.sha256(struct.pack(">Q", key)).digest()[:4])[0]


def idsn(key):
    return struct.unpack(">Q", hashlib.sha256(struct.pack(">Q", key)).digest()[-8:])[0]


def join_hmac(k1, k2, n1, n2):
    return hmac.new(struct.pack(">QQ", k1, k2), struct.pack(">II", n1, n2), hashlib.sha256).digest()


def add_addr_hmac(ks, kr, addr_id, addr, port):
    # Linux net/mptcp/options.c add_addr_generate_hmac: id || addr || port BE (0 if none),
    # result = last 8 bytes of the digest as big-endian.
    msg = bytes([addr_id]) + ipaddress.ip_address(addr).packed + struct.pack(">H", port or 0)
    d = hmac.new(struct.pack(">QQ", ks, kr), msg, hashlib.sha256).digest()
    return struct.unpack(">Q", d[-8:])[0]


def inet_csum(data):
    if len(data) % 2:
        data += b"\x00"
    s = 0
    for i in range(0, len(data), 2):
        s += (data[i] << 8) | data[i + 1]
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return (~s) & 0xFFFF


def dss_checksum(dsn, ssn, data_len, payload):
    return inet_csum(struct.pack(">QIHH", dsn, ssn, data_len, 0) + payload)


def main():
    print("// token / idsn")
    for k in KEYS:
        print(f"(0x{k:016x}, 0x{token(k):08x}, 0x{idsn(k):016x}),")
    print("// join_hmac: (k1, k2, n1, n2, full hex, truncated)")
    joins = [
        (0x0123456789ABCDEF, 0xFEDCBA9876543210, 0x01020304, 0xA0B0C0D0),
        (0xFEDCBA9876543210, 0x0123456789ABCDEF, 0xA0B0C0D0, 0x01020304),
        (0x0, 0x0, 0x0, 0x0),
        (0xFFFFFFFFFFFFFFFF, 0x1, 0xDEADBEEF, 0xFFFFFFFF),
    ]
    for k1, k2, n1, n2 in joins:
        d = join_hmac(k1, k2, n1, n2)
        print(f'(0x{k1:016x}, 0x{k2:016x}, 0x{n1:08x}, 0x{n2:08x}, "{d.hex()}", 0x{d[:8].hex()}),')
    print("// add_addr_hmac: (ks, kr, id, addr, port, hmac)")
    adds = [
        (0x0123456789ABCDEF, 0xFEDCBA9876543210, 1, "10.0.0.2", None),
        (0x0123456789ABCDEF, 0xFEDCBA9876543210, 1, "10.0.0.2", 8080),
        (0xFEDCBA9876543210, 0x0123456789ABCDEF, 7, "192.168.1.200", 0x1234),
        (0x0123456789ABCDEF, 0xFEDCBA9876543210, 2, "2001:db8::1", None),
        (0x0123456789ABCDEF, 0xFEDCBA9876543210, 2, "2001:db8::1", 443),
        (0xA5A5A5A55A5A5A5A, 0x1, 255, "fe80::1:2:3:4", 65535),
    ]
    for ks, kr, i, a, p in adds:
        ps = "None" if p is None else f"Some({p})"
        print(f'(0x{ks:016x}, 0x{kr:016x}, {i}, "{a}", {ps}, 0x{add_addr_hmac(ks, kr, i, a, p):016x}),')
    print("// dss_checksum: (dsn, ssn, len, payload, csum)")
    dss = [
        (0x0, 0x0, 0, b""),
        (0x0123456789ABCDEF, 0x00000001, 5, b"hello"),
        (0x0123456789ABCDEF, 0x00000001, 6, b"hello!"),
        (0xFFFFFFFFFFFFFFFF, 0xFFFFFFFF, 11, b"hello world"),
        (0x1122334455667788, 0x99AABBCC, 256, bytes(range(256))),
        (0xFFFFFFFFFFFFFFFF, 0xFFFFFFFF, 0xFFFF, b"\xff" * 7),
    ]
    for d, s, l, p in dss:
        shown = "bytes(range(256))" if len(p) > 16 else repr(p)
        print(f"(0x{d:016x}, 0x{s:08x}, {l}, {shown}, 0x{dss_checksum(d, s, l, p):04x}),")
    # Linux net/mptcp/crypto_test.c (KUnit): keys and messages are the ASCII bytes of the
    # strings, read as big-endian integers. Check our join_hmac reproduces the kernel's result.
    print("// Linux crypto_test.c vectors: (k1, k2, n1, n2, hex)")
    kernel = [
        ("0b0b0b0b0b0b0b0b", "48692054", "8385e24fb4235ac37556b6b886db106284a1da671699f46db1f235ec622dcafa"),
        ("aaaaaaaaaaaaaaaa", "dddddddd", "2c5e219164ff1dca1c4a92318d847bb6b9d44492984e1eb71aff9022f71046e9"),
        ("0102030405060708", "cdcdcdcd", "e73b9ba9969969cefb04aa0d6df18ec2fcc075b6f23b4d8c4da736a5dbbc6e7d"),
    ]
    for k, m, r in kernel:
        k1, k2 = struct.unpack(">QQ", k.encode())
        n1, n2 = struct.unpack(">II", m.encode())
        assert join_hmac(k1, k2, n1, n2).hex() == r
        print(f'(0x{k1:016x}, 0x{k2:016x}, 0x{n1:08x}, 0x{n2:08x}, "{r}"),')


if __name__ == "__main__":
    main()
