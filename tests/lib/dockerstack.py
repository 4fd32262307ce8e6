"""dockerstack.py — a private container stack (docker-compose.yml) for a run that breaks it.

A DockerStack is the compose project of docker-compose.yml under a name of its own,
<prefix><pid>x<n>, on free host ports, so a developer's `make up` and other tests' stacks are
left alone. Its images are pinned: the four images docker/stack.sh builds are tagged
<image>:<stack> and a compose override file points every service, and the workers the
orchestrator creates (WORKER_IMAGE), at those tags — a long run is not switched to another
build's images by a `docker build` elsewhere on the engine while it runs.

With ha=True the stack is that of `HA=1 make up`: docker-compose.ha.yml over docker-compose.yml
(three RabbitMQ nodes, three ZooKeeper servers, two orchestrators), its extra services pinned too.

down() runs docker/stack.sh down (which removes the workers by label, the compose services, the
network and the volumes) and removes the tags. remove_stale(prefix) does the same for stacks of
earlier runs whose process is gone (a run killed before its teardown). Between the two, a
LogFollower keeps every worker container's output in a file: the orchestrator removes a worker's
container as soon as it stops, and its log would go with it.
"""
import os
import random
import re
import subprocess
import threading
import time

from harness import ROOT, pid_alive

IMAGES = {"orchestrator": "rideshare-app", "users": "rideshare-app", "rides": "rideshare-app",
          "gateway": "rideshare-gateway", "rabbitmq": "rideshare-rabbitmq", "zookeeper": "rideshare-zookeeper",
          "prometheus": "rideshare-prometheus"}
IMAGES_HA = dict(IMAGES, **{"orchestrator-2": "rideshare-app", "rabbitmq-2": "rideshare-rabbitmq",
                            "rabbitmq-3": "rideshare-rabbitmq", "zookeeper-2": "rideshare-zookeeper",
                            "zookeeper-3": "rideshare-zookeeper"})
ORCHESTRATORS = ("orchestrator", "orchestrator-2")


def engine_ok():
    """Whether a Docker engine answers here (its socket, then `docker version`)."""
    if not os.path.exists(os.environ.get("DOCKER_SOCKET", "/var/run/docker.sock")):
        return False
    try:
        return subprocess.run(["docker", "version"], capture_output=True, timeout=30).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def sh(argv, timeout=120, env=None, check=True):
    r = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, env=env)
    if check and r.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)}: status {r.returncode}: {r.stderr.strip()[-800:]}")
    return r.stdout


def compose_cmd():
    if os.environ.get("COMPOSE"):
        return os.environ["COMPOSE"].split()
    if subprocess.run(["docker", "compose", "version"], capture_output=True, timeout=30).returncode == 0:
        return ["docker", "compose"]
    return ["docker-compose"]


def remove_stale(prefix, log=print):
    """Stacks named <prefix><pid>x<n> whose pid is gone: down, and their pinned tags removed."""
    names = set(sh(["docker", "ps", "-a", "--filter", "label=rideshare.project=rideshare", "--format",
                    '{{.Label "rideshare.stack"}}']).split())
    names |= {n[:-5] for n in sh(["docker", "network", "ls", "--format", "{{.Name}}"]).split() if n.endswith("_data")}
    for n in sorted(names):
        m = re.fullmatch(re.escape(prefix) + r"(\d+)x\d+", n)
        if m and not pid_alive(int(m.group(1))):
            log(f"# removing stale stack {n}")
            DockerStack(n, {}).down()


class DockerStack:
    def __init__(self, name, settings, ha=False):
        """settings: extra environment for compose (SCALE_WINDOW_S, MAX_SLAVES, ...); ha: the
        HA overlay."""
        self.name, self.ports, self.ha = name, {}, ha
        self.images = IMAGES_HA if ha else IMAGES
        self.env = dict(os.environ)
        self.env.update({k: str(v) for k, v in settings.items()})
        self.env["RIDESHARE_STACK"] = name
        # The orchestrator's routes open (ADMIN_TOKEN empty), as in test_docker.py: the token is
        # not what a nemesis tests (docs/security.md).
        self.env["ADMIN_TOKEN"] = ""
        self.env.pop("ADMIN_TOKEN_FILE", None)
        self.override = None

    @classmethod
    def fresh(cls, prefix, settings, ha=False):
        return cls(f"{prefix}{os.getpid()}x{random.randint(100, 999)}", settings, ha)

    def compose(self, *args, timeout=300):
        files = ["-f", os.path.join(ROOT, "docker-compose.yml")]
        if self.ha:
            files += ["-f", os.path.join(ROOT, "docker-compose.ha.yml")]
        if self.override:
            files += ["-f", self.override]
        return sh(compose_cmd() + ["-p", self.name] + files + list(args), timeout=timeout, env=self.env)

    def up(self, ports, workdir, timeout=300):
        """Builds (layer cache), pins the images, starts the stack, waits for the gateway."""
        from apistack import ApiClient
        self.ports = ports
        self.env.update({k: str(v) for k, v in ports.items()})
        # The brokers' identities (docs/security.md), the run's own: compose needs them in its
        # environment, as docker/stack.sh gives them to it.
        self.env["BROKER_SECRETS_DIR"] = os.path.join(workdir, f"{self.name}.secrets")
        ids = sh([os.path.join(ROOT, "services", "infra", "broker-secrets.sh"), "env"], env=self.env)
        self.env.update(line.split("=", 1) for line in ids.splitlines() if "=" in line)
        sh([os.path.join(ROOT, "docker", "stack.sh"), "build"], timeout=1800, env=self.env)
        for image in set(IMAGES.values()):
            sh(["docker", "tag", image, f"{image}:{self.name}"])
        self.override = os.path.join(workdir, f"{self.name}.override.yml")
        with open(self.override, "w") as f:
            f.write('version: "2.4"\nservices:\n')
            for svc, image in self.images.items():
                f.write(f"  {svc}:\n    image: {image}:{self.name}\n")
        self.env["WORKER_IMAGE"] = f"rideshare-app:{self.name}"
        self.compose("up", "-d", "--no-build", timeout=timeout)
        gw = ApiClient(ports["GATEWAY_PORT"], timeout=5)
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            try:
                if gw.get("/api/v1/_count").status == 200:
                    return
            except OSError:
                pass
            time.sleep(0.5)
        raise RuntimeError(f"stack {self.name}: the gateway did not answer within {timeout}s")

    def down(self):
        env = dict(self.env)
        r = subprocess.run([os.path.join(ROOT, "docker", "stack.sh"), "down"], env=env, capture_output=True,
                           text=True, timeout=300)
        for image in set(IMAGES.values()):
            subprocess.run(["docker", "rmi", f"{image}:{self.name}"], capture_output=True, timeout=120)
        if self.override and os.path.exists(self.override):
            os.unlink(self.override)
        return r.returncode

    def leftovers(self):
        out = sh(["docker", "ps", "-aq", "--filter", f"label=rideshare.stack={self.name}"]).split()
        out += sh(["docker", "ps", "-aq", "--filter", f"label=com.docker.compose.project={self.name}"]).split()
        out += [n for n in sh(["docker", "network", "ls", "--format", "{{.Name}}"]).split() if n.startswith(self.name)]
        out += [v for v in sh(["docker", "volume", "ls", "--format", "{{.Name}}"]).split() if v.startswith(self.name)]
        return out

    # ------------------------------------------------------------------ containers

    def service_container(self, service):
        ids = sh(["docker", "ps", "-aq", "--filter", f"label=com.docker.compose.project={self.name}",
                  "--filter", f"label=com.docker.compose.service={service}"]).split()
        return ids[0] if ids else None

    def worker_container(self, worker_id):
        return f"{self.name}-worker-{worker_id}"

    def inspect(self, container, fmt):
        return sh(["docker", "inspect", "-f", fmt, container], check=False).strip()

    def pid(self, container):
        p = self.inspect(container, "{{.State.Pid}}")
        return int(p) if p.isdigit() and int(p) > 0 else None

    def ips(self, container):
        """Every address of the container, one per network it is on."""
        return self.inspect(container, "{{range .NetworkSettings.Networks}}{{.IPAddress}} {{end}}").split()

    def paused(self):
        return sh(["docker", "ps", "-q", "--filter", f"label=rideshare.stack={self.name}", "--filter",
                   "status=paused"]).split()


class LogFollower:
    """`docker logs -f` of every worker container of the stack, each into dir/<name>.log, found by
    polling every half second; the orchestrator's log is read at the end (its container stays
    across restarts)."""

    def __init__(self, stack, directory):
        self.stack, self.dir = stack, directory
        self.procs, self.files = {}, {}
        self.stop_ev = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        os.makedirs(directory, exist_ok=True)

    def start(self):
        self.thread.start()

    def _run(self):
        while not self.stop_ev.wait(0.5):
            try:
                out = sh(["docker", "ps", "-a", "--filter", f"label=rideshare.stack={self.stack.name}",
                          "--filter", "label=rideshare.role=worker", "--format", "{{.ID}} {{.Names}}"], timeout=30)
            except (RuntimeError, subprocess.TimeoutExpired):
                continue
            for line in out.splitlines():
                cid, name = line.split()
                if cid in self.procs:
                    continue
                f = open(os.path.join(self.dir, f"{name}.log"), "w")
                self.files[cid] = f
                self.procs[cid] = subprocess.Popen(["docker", "logs", "-f", cid], stdout=f,
                                                   stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)

    def stop(self):
        self.stop_ev.set()
        self.thread.join(10)
        for p in self.procs.values():
            if p.poll() is None:
                p.terminate()
                try:
                    p.wait(5)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()
        for f in self.files.values():
            f.close()

    def lines(self):
        """Every worker's lines and the orchestrators'."""
        out = []
        for name in sorted(os.listdir(self.dir)):
            if name.endswith(".log"):
                with open(os.path.join(self.dir, name), errors="replace") as f:
                    out += f.read().splitlines()
        for svc in ORCHESTRATORS:
            orch = self.stack.service_container(svc)
            if orch:
                r = subprocess.run(["docker", "logs", orch], capture_output=True, text=True, timeout=120,
                                   errors="replace")
                out += (r.stdout + r.stderr).splitlines()
        return out
