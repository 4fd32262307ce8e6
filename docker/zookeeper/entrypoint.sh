#!/usr/bin/env bash
#
# entrypoint.sh — the rideshare-zookeeper container's start: writes the server's configuration,
# /var/lib/zookeeper/zoo.cfg, then runs the command (ZooKeeper, reading that file).
#
# Standalone (make up): the image's settings as they are (/etc/zookeeper/zoo-rideshare.cfg).
# In an ensemble (HA=1 make up, docker-compose.ha.yml):
#   ZK_SERVERS  the servers' host names in the order of their ids, comma-separated
#               (zookeeper,zookeeper-2,zookeeper-3): server.N=<name>:2888:3888 lines, the same
#               on every server
#   ZK_MYID     this server's id (1..N), written to dataDir/myid
# quorumListenOnAllIPs: a server is on two networks (control and data), and a peer may resolve
# its name to the address on either; it listens for the quorum and the election on both.
set -euo pipefail
cfg=/var/lib/zookeeper/zoo.cfg
cp /etc/zookeeper/zoo-rideshare.cfg "$cfg.tmp"
if [ -n "${ZK_SERVERS:-}" ]; then
    IFS=, read -r -a servers <<<"$ZK_SERVERS"
    if ! [[ ${ZK_MYID:-} =~ ^[1-9][0-9]*$ ]] || [ "$ZK_MYID" -gt "${#servers[@]}" ]; then
        echo "zookeeper: ZK_MYID must be 1..${#servers[@]} (the place of this server in ZK_SERVERS)" >&2
        exit 1
    fi
    for i in "${!servers[@]}"; do
        [[ ${servers[i]} =~ ^[a-z0-9.-]+$ ]] || { echo "zookeeper: bad server name '${servers[i]}'" >&2; exit 1; }
        echo "server.$((i + 1))=${servers[i]}:2888:3888"
    done >>"$cfg.tmp"
    echo quorumListenOnAllIPs=true >>"$cfg.tmp"
    echo "$ZK_MYID" >/var/lib/zookeeper/data/myid
fi
mv "$cfg.tmp" "$cfg"
exec "$@"
