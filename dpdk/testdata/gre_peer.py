#!/usr/bin/python3
"""The independent GRE peer of dpdk's tunnel tests: scapy builds and reads
GRETAP and GRE packets, so neither side of a test is fastcapa's own code
(this machine's kernel has no GRE device to be that peer).

  gre_peer.py encap KIND KEY IN OUT
      each frame of IN in KIND (gretap: the whole frame, protocol 0x6558;
      gre: the frame after its Ethernet header, its ethertype the
      protocol), 192.0.2.2 -> 192.0.2.1, GRE key KEY; then the first 5
      again with key KEY+1, then 3 with a bad IPv4 checksum.
  gre_peer.py decap KIND KEY IN OUT
      what each GRE packet of IN carries, checked first: a good IPv4
      checksum and length, protocol 47, key KEY, KIND's protocol.
"""
import sys

from scapy.all import GRE, IP, Ether, raw, rdpcap, wrpcap
from scapy.utils import PcapWriter

SRC_MAC, DST_MAC = "02:00:00:00:00:02", "02:00:00:00:00:01"


def fail(msg):
    print("gre_peer: " + msg, file=sys.stderr)
    sys.exit(1)


def encap(kind, key, src, dst):
    frames = [raw(p) for p in rdpcap(src)]

    def wrap(frame, k, chksum=None):
        if kind == "gretap":
            proto, payload = 0x6558, frame
        else:
            proto, payload = int.from_bytes(frame[12:14], "big"), frame[14:]
        ip = IP(src="192.0.2.2", dst="192.0.2.1", ttl=64)
        if chksum is not None:
            ip.chksum = chksum
        return Ether(src=SRC_MAC, dst=DST_MAC) / ip / GRE(key_present=1, key=k, proto=proto) / payload

    pkts = [wrap(f, key) for f in frames]
    pkts += [wrap(f, key + 1) for f in frames[:5]]
    pkts += [wrap(f, key, chksum=0x1234) for f in frames[:3]]
    wrpcap(dst, pkts)


def decap(kind, key, src, dst):
    out = PcapWriter(dst, linktype=1 if kind == "gretap" else 101, sync=True)
    want_proto = 0x6558 if kind == "gretap" else None
    for i, p in enumerate(rdpcap(src)):
        if IP not in p or GRE not in p:
            fail("packet %d is not IPv4 GRE: %r" % (i, p.summary()))
        ip = p[IP]
        fixed = ip.copy()
        del fixed.chksum
        if IP(raw(fixed)).chksum != ip.chksum:
            fail("packet %d: IPv4 checksum %#x is wrong" % (i, ip.chksum))
        if ip.len != len(raw(ip)) or ip.proto != 47:
            fail("packet %d: IPv4 length %d of %d bytes, protocol %d" % (i, ip.len, len(raw(ip)), ip.proto))
        g = p[GRE]
        if not g.key_present or g.key != key:
            fail("packet %d: GRE key %r, want %d" % (i, g.key, key))
        if want_proto is not None and g.proto != want_proto:
            fail("packet %d: GRE protocol %#x, want %#x" % (i, g.proto, want_proto))
        out.write(raw(g.payload))
    out.close()


if __name__ == "__main__":
    if len(sys.argv) != 6 or sys.argv[1] not in ("encap", "decap") or sys.argv[2] not in ("gretap", "gre"):
        fail(__doc__)
    {"encap": encap, "decap": decap}[sys.argv[1]](sys.argv[2], int(sys.argv[3]), sys.argv[4], sys.argv[5])
