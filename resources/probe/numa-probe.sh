#!/bin/sh
# NUMA probe for the guest: prints what the guest kernel reports, one "key: value" per line,
# then sleeps so the pod's log can be read. The keys of the original probe image come first
# (numa_online, nodeN_cpus, nodeN_mem_kb, gpu_<bdf>_numa), then nodeN_cpulist, nodeN_distance
# and a pci_<bdf> line per device of the classes in PROBE_PCI_CLASSES.
#
# Environment: SYSFS (default /sys), PROBE_PCI_CLASSES (space-separated class prefixes such as
# 0x0302 or 0x03; "all" for every device; default 0x03), PROBE_ONCE=1 to exit instead of sleeping.
# POSIX sh: runs under busybox and alpine.

SYSFS=${SYSFS:-/sys}
PROBE_PCI_CLASSES=${PROBE_PCI_CLASSES:-0x03}
nodes="$SYSFS/devices/system/node"
NEWLINE='
'

first_line() {
    # The first line of a file without its newline (sysfs values end with one). Read by cat, not
    # the shell's read: the shell reads one byte at a time, and a node's cpulist (a binary sysfs
    # attribute) answers a one-byte read with end of file, so read would see it empty.
    line=""
    [ -r "$1" ] && line=$(cat "$1" 2>/dev/null)
    printf '%s' "${line%%"$NEWLINE"*}"
}

count_cpulist() {
    # Number of ids in a cpulist such as 0-3,8,10-11 (empty: 0).
    total=0
    old_ifs=$IFS
    IFS=,
    for part in $1; do
        case "$part" in
            *-*) total=$((total + ${part#*-} - ${part%-*} + 1)) ;;
            "") ;;
            *) total=$((total + 1)) ;;
        esac
    done
    IFS=$old_ifs
    printf '%s' "$total"
}

class_wanted() {
    [ "$PROBE_PCI_CLASSES" = "all" ] && return 0
    for prefix in $PROBE_PCI_CLASSES; do
        case "$1" in "$prefix"*) return 0 ;; esac
    done
    return 1
}

online=$(first_line "$nodes/online")
printf 'numa_online: %s\n' "$online"
for dir in "$nodes"/node[0-9]*; do
    [ -d "$dir" ] || continue
    id=${dir##*/node}
    printf 'node%s_cpus: %s\n' "$id" "$(count_cpulist "$(first_line "$dir/cpulist")")"
done
for dir in "$nodes"/node[0-9]*; do
    [ -d "$dir" ] || continue
    id=${dir##*/node}
    mem=0
    while read -r _ _ key value _; do
        [ "$key" = "MemTotal:" ] && mem=$value
    done < "$dir/meminfo"
    printf 'node%s_mem_kb: %s\n' "$id" "$mem"
done
for dev in "$SYSFS"/bus/pci/devices/*; do
    [ -e "$dev/class" ] || continue
    [ "$(first_line "$dev/class")" = "0x030200" ] || continue
    printf 'gpu_%s_numa: %s\n' "${dev##*/}" "$(first_line "$dev/numa_node")"
done
for dir in "$nodes"/node[0-9]*; do
    [ -d "$dir" ] || continue
    id=${dir##*/node}
    printf 'node%s_cpulist: %s\n' "$id" "$(first_line "$dir/cpulist")"
    printf 'node%s_distance: %s\n' "$id" "$(first_line "$dir/distance")"
done
for dev in "$SYSFS"/bus/pci/devices/*; do
    [ -e "$dev/class" ] || continue
    class=$(first_line "$dev/class")
    class_wanted "$class" || continue
    printf 'pci_%s: class=%s numa=%s vendor=%s device=%s\n' "${dev##*/}" "$class" \
        "$(first_line "$dev/numa_node")" "$(first_line "$dev/vendor")" "$(first_line "$dev/device")"
done

[ "${PROBE_ONCE:-0}" = "1" ] && exit 0
while :; do sleep 3600; done
