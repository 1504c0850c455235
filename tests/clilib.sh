# clilib.sh — shared by the tests/cli_*.sh scripts (sourced, not a test itself):
#   ok MSG / bad MSG   print one check's result (bad counts it in $fails)
#   run ARGS...        runs "$CT" ARGS with stdout in $out, stderr in $err, exit status in $rc
#                      (the caller sets CT and tmp)
#   results, same      a run's result lines; two runs' within a tolerance
#   kill_a_rank        SIGKILL (or SIGSTOP) one rank of a background mpirun training; the job
#                      must end
#   torch_or_skip NAME sets PY to a Python that imports torch, or prints SKIP and exits 0
#   signal_at PAT FILE SIG [CMD]  a background job's signal once its output matches PAT
#   finish NAME        prints the summary line; its status is 0 only when no check failed
#                      (with CTRAIN_TEST_NEED=cuda, it also checks that auto was CUDA)
fails=0

# torch_or_skip NAME: sets PY to the Python with PyTorch (Debian's /usr/bin/python3 first), or
# prints "SKIP NAME: ..." and exits 0
torch_or_skip() {
    PY=python3
    [ -x /usr/bin/python3 ] && PY=/usr/bin/python3
    if ! "$PY" -c 'import torch' 2>/dev/null; then
        echo "SKIP $1: $PY cannot import torch (apt-get install python3-torch; make bench does)"
        exit 0
    fi
}

ok() { echo "ok   - $*"; }
bad() { echo "FAIL - $*"; fails=$((fails + 1)); }
run() {
    "$CT" "$@" >"$tmp/out" 2>"$tmp/err"
    rc=$?
    out=$(cat "$tmp/out")
    err=$(cat "$tmp/err")
}
# results NAME: the result lines of the run whose stdout is $tmp/NAME.out ("Before training:
# ...", "Epoch [i], ...", "test_loss: ...")
results() { grep -E '^(Before training|Epoch \[[0-9]+\]|test_loss)' "$tmp/$1.out"; }
# same NAME1 NAME2 TOL: the same result lines, every number within TOL (the largest difference
# goes to $tmp/worst)
same() {
    local a b
    a=$(results "$1") b=$(results "$2")
    [ -n "$a" ] && [ "$(wc -l <<<"$a")" -eq "$(wc -l <<<"$b")" ] || return 1
    paste -d'|' <(tr -c '0-9.\n' ' ' <<<"$a") <(tr -c '0-9.\n' ' ' <<<"$b") |
        awk -F'|' -v tol="$3" '{
            n = split($1, x, " "); m = split($2, y, " ");
            if (n != m) bad = 1;
            for (i = 1; i <= n; i++) { d = x[i] - y[i]; if (d < 0) d = -d; if (d > tol) bad = 1;
                                       if (d > worst) worst = d }
        } END { printf "%g\n", (worst > 0 ? worst : 0) > "/dev/stderr"; exit bad }' 2>"$tmp/worst"
}
# kill_a_rank JOB OUT ERR WHAT [SIG PATTERN MIN]: JOB is a background mpirun training whose
# rank 0 prints to OUT; once training runs (up to 60 s), sends SIG (default KILL) to its last
# rank and checks that the job was still running then, that it ends with an error after MIN
# (default 0) to 30 s (no hang) and, given PATTERN, that ERR matches it (grep -E); a stopped
# rank is killed afterwards; sets $job to "" when done
kill_a_rank() {
    local victim="" mpirun_pid start took sig=${5:-KILL} pattern=${6:-} min=${7:-0}
    for _ in $(seq 1 600); do
        if grep -q '^Before training' "$2"; then
            mpirun_pid=$(pgrep -P "$1" -x mpirun || echo "$1")
            victim=$(pgrep -P "$mpirun_pid" -x ctrain | sort -n | tail -1)
            [ -n "$victim" ] && break
        fi
        kill -0 "$1" 2>/dev/null || break
        sleep 0.1
    done
    if [ -z "$victim" ]; then
        bad "$4: could not find a rank to kill: $(head -c 2000 "$3")"
        kill -KILL "$1" 2>/dev/null
    else
        start=$(date +%s)
        local running=1
        kill -0 "$victim" 2>/dev/null || running=0
        kill -"$sig" "$victim"
        wait "$1"
        rc=$?
        took=$(($(date +%s) - start))
        [ "$sig" = KILL ] || kill -KILL "$victim" 2>/dev/null
        if [ "$running" -eq 0 ]; then
            bad "$4: the job had ended before SIG$sig (exit $rc): $(head -c 1500 "$3")"
        elif [ "$rc" -ne 0 ] && [ "$rc" -ne 124 ] && [ "$took" -ge "$min" ] && [ "$took" -le 30 ] &&
            { [ -z "$pattern" ] || grep -qE "$pattern" "$3"; }; then
            ok "$4: SIG$sig to one rank (pid $victim) -> the job ends, exit $rc after ${took} s"
        else
            bad "$4: SIG$sig to one rank -> exit $rc after ${took} s (124: hung until the timeout): $(head -c 1500 "$3")"
        fi
        if [ -n "$pattern" ]; then
            grep -m1 -E "$pattern" "$3" | sed 's/^/    | /'
        else
            grep -m2 -E 'exited on signal|killed|Killed' "$3" | sed 's/^/    | /'
        fi
    fi
    job=""
}
finish() {
    if [ "${CTRAIN_TEST_NEED:-}" = cuda ]; then # the runs were meant for CUDA (the emulator's)
        if "$CT" devices 2>/dev/null | grep -q '^auto: cuda'; then
            ok "--device auto is CUDA here (CTRAIN_TEST_NEED=cuda)"
        else
            bad "CTRAIN_TEST_NEED=cuda, but --device auto is not CUDA: $("$CT" devices 2>&1 | tail -n 1)"
        fi
    fi
    if [ "$fails" -eq 0 ]; then echo "$1: all checks passed"; else echo "$1: $fails check(s) failed"; fi
    [ "$fails" -eq 0 ]
}

# signal_at PATTERN FILE SIG [CMD]: call it right after starting a job in the background; once
# FILE (its output) has a line matching PATTERN (or the job ended), runs CMD (the job's pid in
# $pid), sends SIG and waits for the job: its exit status in $rc
signal_at() {
    pid=$!
    for _ in $(seq 1 600); do
        grep -q "$1" "$2" && break
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.05
    done
    [ -n "${4:-}" ] && eval "$4"
    kill -"$3" "$pid" 2>/dev/null
    wait "$pid"
    rc=$?
    pid=""
}
