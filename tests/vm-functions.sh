# tmem: the set-up of the scripts/tmem-vm tests that serve without
# systemd (sourced after functions.sh): $tv the script, $tmp, $pool (a
# 64M pool, its files removed at exit) in $tmp/t.conf, $me this user, and
# opts, the options that put the guests' files in $tmp/guests and
# $tmp/run.
tv=$abs_top_srcdir/scripts/tmem-vm
tmp=$(mktemp_dir)
pool=$(unique_segment)
cleanup_fn "rm -f /dev/shm/$pool /dev/shm/$pool.*"
me=$(id -un)
printf '[pool]\nname = %s\nsize = 64M\n[swap]\nthreads = 2\n' "$pool" > "$tmp/t.conf"
export TMEMCTL
opts=(-c "$tmp/t.conf" -p "$TMEM_PLUGIN" -g "$tmp/guests" -r "$tmp/run" --no-systemd)
