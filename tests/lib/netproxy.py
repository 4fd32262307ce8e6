"""netproxy.py — a TCP proxy on loopback that can partition one client process from its server (tests only).

A Proxy listens on a free loopback port and forwards every connection to one target (the run's RabbitMQ
or ZooKeeper). A stack whose processes are given the proxy's address instead of the server's can then
have ONE of them cut off while the others go on: cut(pid) partitions every connection that process has
through the proxy, and every connection it opens while the cut lasts; heal(pid) ends it.

What a cut looks like to both sides: nothing. No byte goes through in either direction, and nothing is
closed: the sockets stay open, as behind a silent network (a firewall that drops packets), so the
client and the server find out only through their own timeouts and heartbeats — never from a reset. A
connection opened during the cut is accepted (the client's kernel connects to the proxy) and then
held, so the client's handshake times out as it would behind the same network. heal() resets every
connection that was held (both halves, SO_LINGER 0): what a long partition leaves behind, since either
side has given the connection up by then.

Which connections belong to a process: the proxy knows each client's port; the kernel's socket table
(/proc/net/tcp) gives the inode of the client's socket with that port, and /proc/<pid>/fd lists the
sockets a process holds (root, or the same user). A connection is the process's when its client
socket is among them.

One thread runs all of it (selectors, non-blocking sockets, a buffer per direction: a slow reader
holds up only its own connection). close() stops it and closes every socket; use it in a finally.

route(env, amqp, zk) rewrites a stack's environment to go through two proxies.
"""
import os
import selectors
import socket
import struct
import threading
from urllib.parse import urlsplit, urlunsplit


def route(env, amqp, zk):
    """Points a stack's environment at proxies amqp and zk: ZK_HOSTS, and the host:port of
    RABBITMQ_URL and of WORKER_RABBITMQ_URL (the URL the orchestrator gives its workers), each with
    its user and vhost kept."""
    for key in ("RABBITMQ_URL", "WORKER_RABBITMQ_URL"):
        if key in env:
            u = urlsplit(env[key])
            auth = u.netloc.rsplit("@", 1)[0] + "@" if "@" in u.netloc else ""
            env[key] = urlunsplit(u._replace(netloc=auth + amqp.address()))
    env["ZK_HOSTS"] = zk.address()


def _inodes_of(pid):
    """The socket inodes process pid holds (empty when it is gone)."""
    out = set()
    try:
        fds = os.listdir(f"/proc/{pid}/fd")
    except OSError:
        return out
    for fd in fds:
        try:
            link = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if link.startswith("socket:["):
            out.add(int(link[8:-1]))
    return out


def _socket_table():
    """{(local port, remote port): inode} of the loopback TCP sockets (IPv4 and IPv6)."""
    table = {}
    for name in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(name) as f:
                lines = f.readlines()[1:]
        except OSError:
            continue
        for line in lines:
            parts = line.split()
            if len(parts) < 10:
                continue
            local, remote, inode = parts[1], parts[2], int(parts[9])
            table[(int(local.rsplit(":", 1)[1], 16), int(remote.rsplit(":", 1)[1], 16))] = inode
    return table


class _Conn:
    """One proxied connection: the client's socket, the server's, and what waits to be written to each."""

    def __init__(self, client, server, client_port):
        self.client, self.server, self.client_port = client, server, client_port
        self.to_server, self.to_client = bytearray(), bytearray()
        self.held = False

    def peer(self, sock):
        return self.server if sock is self.client else self.client

    def outbox(self, sock):
        """The buffer of what is to be written to sock."""
        return self.to_server if sock is self.server else self.to_client


class Proxy:
    def __init__(self, target_host, target_port):
        self.target = (target_host, int(target_port))
        self.listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(256)
        self.listener.setblocking(False)
        self.port = self.listener.getsockname()[1]
        self.sel = selectors.DefaultSelector()
        self.sel.register(self.listener, selectors.EVENT_READ, None)
        self.wake_r, self.wake_w = socket.socketpair()
        self.wake_r.setblocking(False)
        self.sel.register(self.wake_r, selectors.EVENT_READ, None)
        self.lock = threading.Lock()
        self.commands = []          # (fn, done Event), run by the loop thread
        self.conns = set()
        self.cut_pids = set()
        self.accepted = 0
        self.stopped = False
        self.thread = threading.Thread(target=self._loop, daemon=True, name=f"netproxy-{self.port}")
        self.thread.start()

    # ------------------------------------------------------------------ API (any thread)

    def address(self):
        return f"127.0.0.1:{self.port}"

    def cut(self, pid):
        """Partitions process pid from the target: its connections now and until heal(pid)."""
        self._run(lambda: self._cut(pid))

    def heal(self, pid=None):
        """Ends the cut of pid (of every process when None) and resets the connections that were held."""
        self._run(lambda: self._heal(pid))

    def held(self):
        """The number of connections held now."""
        return self._run(lambda: sum(1 for c in self.conns if c.held))

    def close(self):
        if self.stopped:
            return
        self._run(self._stop)
        self.thread.join(5)

    # ------------------------------------------------------------------ the loop thread

    def _run(self, fn):
        done, box = threading.Event(), []
        with self.lock:
            if self.stopped:
                return None
            self.commands.append((lambda: box.append(fn()), done))
        self.wake_w.send(b"x")
        if not done.wait(10):
            raise RuntimeError("netproxy: the loop did not answer")
        return box[0] if box else None

    def _owned_by(self, pids):
        """The connections whose client socket is held by one of pids."""
        inodes = set()
        for pid in pids:
            inodes |= _inodes_of(pid)
        if not inodes:
            return []
        table = _socket_table()
        return [c for c in self.conns if table.get((c.client_port, self.port)) in inodes]

    def _hold(self, c):
        """Stops moving bytes on c, leaving both sockets open."""
        c.held = True
        for s in (c.client, c.server):
            if s is not None:
                try:
                    self.sel.unregister(s)
                except (KeyError, ValueError):
                    pass

    def _cut(self, pid):
        self.cut_pids.add(pid)
        for c in self._owned_by([pid]):
            self._hold(c)

    def _heal(self, pid):
        pids = set(self.cut_pids) if pid is None else {pid}
        self.cut_pids -= pids
        for c in [c for c in self.conns if c.held]:
            self._drop(c, reset=True)

    def _stop(self):
        for c in list(self.conns):
            self._drop(c, reset=True)
        self.stopped = True

    def _drop(self, c, reset=False):
        self.conns.discard(c)
        for s in (c.client, c.server):
            if s is None:
                continue
            try:
                self.sel.unregister(s)
            except (KeyError, ValueError):
                pass
            if reset:
                try:
                    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                except OSError:
                    pass
            s.close()

    def _interest(self, c):
        """Registers c's sockets for what they wait for now."""
        for s in (c.client, c.server):
            events = 0
            if not c.outbox(c.peer(s)):     # read only while the other side has room
                events |= selectors.EVENT_READ
            if c.outbox(s):
                events |= selectors.EVENT_WRITE
            try:
                if events:
                    self.sel.modify(s, events, c) if s in self.sel.get_map() else self.sel.register(s, events, c)
                elif s in self.sel.get_map():
                    self.sel.unregister(s)
            except (KeyError, ValueError, OSError):
                pass

    def _accept(self):
        try:
            client, addr = self.listener.accept()
        except BlockingIOError:
            return
        self.accepted += 1
        client.setblocking(False)
        c = _Conn(client, None, addr[1])
        self.conns.add(c)
        if self.cut_pids and c in self._owned_by(self.cut_pids):
            c.held = True                   # behind the partition: the handshake never gets an answer
            return
        try:
            server = socket.create_connection(self.target, timeout=2)
        except OSError:
            self._drop(c, reset=True)       # the target refuses: so does the proxy
            return
        server.setblocking(False)
        c.server = server
        self._interest(c)

    def _pump(self, sock, c, events):
        if c.held or c not in self.conns:
            return
        if events & selectors.EVENT_READ:
            try:
                data = sock.recv(65536)
            except BlockingIOError:
                data = None
            except OSError:
                data = b""
            if data == b"":
                self._drop(c)
                return
            if data:
                c.outbox(c.peer(sock)).extend(data)
        for s in (c.client, c.server):
            box = c.outbox(s)
            if box:
                try:
                    n = s.send(box)
                    del box[:n]
                except BlockingIOError:
                    pass
                except OSError:
                    self._drop(c)
                    return
        self._interest(c)

    def _loop(self):
        while not self.stopped:
            for key, events in self.sel.select(0.5):
                if key.fileobj is self.listener:
                    self._accept()
                elif key.fileobj is self.wake_r:
                    try:
                        self.wake_r.recv(4096)
                    except BlockingIOError:
                        pass
                else:
                    self._pump(key.fileobj, key.data, events)
            with self.lock:
                commands, self.commands = self.commands, []
            for fn, done in commands:
                try:
                    fn()
                finally:
                    done.set()
        self.sel.close()
        self.listener.close()
        self.wake_r.close()
        self.wake_w.close()
