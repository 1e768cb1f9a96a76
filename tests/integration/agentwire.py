"""The agent's wire protocol as tests speak it (lib/proto.h): its listening
name, frames read whole, commands sent. One place for what a raw test
monitor needs, so the framing is written once."""
import struct

import common

MAGIC, VERSION = 0x50544D50, 1
COMMAND, REPLY = 4, 5
T_CMD_ID, T_CMD_NAME, T_CMD_ARG, T_STATUS, T_MESSAGE = 60, 61, 62, 63, 64


def agent_name(pid):
    """The agent's abstract listening name ('@pymemtop.PID.RANDOM')."""
    inodes = common.socket_inodes(pid)
    with open("/proc/%d/net/unix" % pid) as f:
        next(f)
        for line in f:
            p = line.split()
            if len(p) > 7 and p[6].isdigit() and int(p[6]) in inodes and \
                    p[7].startswith("@pymemtop.") and int(p[3], 16) & 0x10000:
                return p[7]
    raise AssertionError("no agent socket in PID %d" % pid)


class Wire:
    """Frames over a connected socket `self.sock` (set by the subclass)."""
    buf = b""
    cmd_id = 0

    def _recv(self, n):
        while len(self.buf) < n:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise EOFError("agent closed the connection")
            self.buf += chunk
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def read_frame(self):
        """(type, {tag: [values]}) of the next frame."""
        magic, ver, typ, ln = struct.unpack("<IHHI", self._recv(12))
        assert magic == MAGIC and ver == VERSION, (hex(magic), ver)
        p, fields, o = self._recv(ln), {}, 0
        while o < len(p):
            tag, fl = struct.unpack_from("<HH", p, o)
            fields.setdefault(tag, []).append(p[o + 4:o + 4 + fl])
            o += 4 + fl
        return typ, fields

    def send_command(self, name, arg):
        """Sends COMMAND name=arg; returns its id."""
        self.cmd_id += 1
        nm = name.encode()
        payload = (struct.pack("<HHQ", T_CMD_ID, 8, self.cmd_id)
                   + struct.pack("<HH", T_CMD_NAME, len(nm)) + nm
                   + struct.pack("<HHq", T_CMD_ARG, 8, arg))
        self.sock.sendall(struct.pack("<IHHI", MAGIC, VERSION, COMMAND, len(payload)) + payload)
        return self.cmd_id

    def run_command(self, name, arg):
        """Sends name=arg and reads up to its REPLY: (status, message)."""
        cid = self.send_command(name, arg)
        while True:
            typ, f = self.read_frame()
            if typ == REPLY and struct.unpack("<Q", f[T_CMD_ID][0])[0] == cid:
                return (struct.unpack("<q", f[T_STATUS][0])[0], f[T_MESSAGE][0].decode())


class Monitor(Wire):
    """A monitor of its own, connected to PID's agent by name (the same
    network namespace as the target), for commands pymemtop keeps to itself."""

    def __init__(self, pid, timeout_s=30):
        import socket
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(timeout_s)
        self.sock.connect("\0" + agent_name(pid)[1:])

    def close(self):
        self.sock.close()
