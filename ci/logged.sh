#!/bin/sh
# ci/logged.sh LOG COMMAND... — runs COMMAND with its output in LOG, then
# prints LOG; exits with COMMAND's status. (make unit keeps the runners'
# output for ci/readme-facts.sh; sh has no pipefail for a tee.)
log=$1
shift
"$@" >"$log" 2>&1
rc=$?
cat "$log"
exit $rc
