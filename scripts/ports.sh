# shellcheck shell=bash
# scripts/ports.sh - loopback port helpers, sourced by run.sh and deploy/check-{deb,image}.sh.
#   port_busy PORT   true when something accepts connections on 127.0.0.1:PORT
#   free_port FROM   prints the first port from FROM to FROM+100 that nobody listens on
# (A port found free is not reserved: callers that need several give each its own FROM.)

port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

free_port() {
    local port
    for port in $(seq "$1" $(($1 + 100))); do
        if ! port_busy "$port"; then
            echo "$port"
            return 0
        fi
    done
    echo "no free port from $1" >&2
    return 1
}
