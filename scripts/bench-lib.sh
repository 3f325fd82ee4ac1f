# bench-lib.sh: what the benchmark scripts (side-by-side.sh, redis-outage.sh, scale-bench.sh)
# share. Sourced, not run.

# stop_pid PID: resume it if stopped, SIGTERM, wait up to 10 s, then SIGKILL.
stop_pid() {
	local pid="$1" i
	[ -n "$pid" ] || return 0
	kill -CONT "$pid" 2>/dev/null || true
	kill -TERM "$pid" 2>/dev/null || return 0
	for i in $(seq 1 50); do
		kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null || true; return 0; }
		sleep 0.2
	done
	kill -KILL "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
}

# free_port: a TCP port on 127.0.0.1 that nothing listens on now.
free_port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}
