#!/bin/bash
# The swap workload passes on intact memory, catches damaged pages, counts
# them, and rejects bad arguments: the guest test relies on all three.
. ./functions.sh

w=./swap-workload
[ -x "$w" ] || fail "$w is not built"

out=$("$w" --mib 8 --passes 3) || fail "an undamaged run failed: $out"
echo "$out" | grep -q 'ok: 4096 page checks, 0 mismatches' ||
    fail "unexpected summary: $out"
# The kinds are mixed roughly as documented (20/20/40/20 % of 2048 pages).
read -r z d t r < <(echo "$out" | sed -n 's/.*zero \([0-9]*\), duplicate \([0-9]*\), text \([0-9]*\), random \([0-9]*\)$/\1 \2 \3 \4/p')
[ "$z" -gt 300 ] && [ "$z" -lt 520 ] && [ "$d" -gt 300 ] && [ "$d" -lt 520 ] &&
    [ "$t" -gt 700 ] && [ "$t" -lt 940 ] && [ "$r" -gt 300 ] && [ "$r" -lt 520 ] ||
    fail "page kinds not mixed as documented: $z $d $t $r"

status=0
out=$("$w" --mib 8 --passes 2 --corrupt 5) || status=$?
[ $status -eq 1 ] || fail "5 damaged pages: exit status $status, expected 1"
echo "$out" | grep -q 'FAILED: 2048 page checks, 5 mismatches' ||
    fail "5 damaged pages not counted: $out"

# Damage is repaired when found, so later passes count only new damage.
status=0
out=$("$w" --mib 4 --passes 4 --corrupt 2) || status=$?
[ $status -eq 1 ] && echo "$out" | grep -q ', 2 mismatches' ||
    fail "damage counted more than once: $out"

for bad in "--mib 0" "--mib x" "--passes 1" "--ram-factor -1" "--corrupt 9999999 --mib 1" "extra"; do
    status=0
    err=$("$w" $bad 2>&1) || status=$?
    [ $status -eq 2 ] || fail "'$bad': exit status $status, expected 2"
    echo "$err" | grep -q 'swap-workload: ' || fail "'$bad': no message naming the program: $err"
done
