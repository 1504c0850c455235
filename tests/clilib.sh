# clilib.sh — shared by the tests/cli_*.sh scripts (sourced, not a test itself):
#   ok MSG / bad MSG   print one check's result (bad counts it in $fails)
#   run ARGS...        runs "$CT" ARGS with stdout in $out, stderr in $err, exit status in $rc
#                      (the caller sets CT and tmp)
#   finish NAME        prints the summary line; its status is 0 only when no check failed
fails=0

ok() { echo "ok   - $*"; }
bad() { echo "FAIL - $*"; fails=$((fails + 1)); }
run() {
    "$CT" "$@" >"$tmp/out" 2>"$tmp/err"
    rc=$?
    out=$(cat "$tmp/out")
    err=$(cat "$tmp/err")
}
finish() {
    if [ "$fails" -eq 0 ]; then echo "$1: all checks passed"; else echo "$1: $fails check(s) failed"; fi
    [ "$fails" -eq 0 ]
}
