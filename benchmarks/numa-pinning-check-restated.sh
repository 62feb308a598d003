#!/usr/bin/env bash
# The shape of the original numa-pinning-check.sh, restated for comparison:
# one `taskset -pc` fork per thread of the QEMU process, every thread pinned
# to a single CPU mapped to its node through sysfs, then `sort | uniq -c`.
set -u
pid=$1
for task in /proc/"$pid"/task/*; do
    tid=${task##*/}
    list=$(taskset -pc "$tid" 2>/dev/null | awk -F': ' '{print $2}')
    case "$list" in
        *[,-]*|"") continue ;;  # not pinned to a single CPU
    esac
    for node in /sys/devices/system/cpu/cpu"$list"/node*; do
        echo "${node##*/}"
    done
done | sort | uniq -c
