*** Settings ***
Documentation     The guest report and runtime configuration keyword libraries: parsing the probe
...               output, and drop-ins that leave the node's configuration exactly as found.

Library           OperatingSystem
Library           NodeAccess
Library           GuestReport
Library           RuntimeConfig

Suite Setup       Prepare A Node Tree With The GPU Shim's Configuration
Suite Teardown    Restore Drop-Ins

Test Tags         libraries


*** Variables ***
${FIXTURES}       ${CURDIR}/../fixtures
${SHIM}           qemu-nvidia-gpu
${RUNTIME_DIR}    /opt/kata/share/defaults/kata-containers/runtimes/${SHIM}
${TREE}           ${OUTPUT DIR}/node-tree


*** Test Cases ***
Guest Report Of A Two-Node GPU Sandbox
    [Documentation]    The probe output of a two-node GPU guest parses and passes the layout checks.
    ${text}    Get File    ${FIXTURES}/guest/guest-report-gpu-two-nodes.txt
    Parse Guest Report    ${text}
    Guest Should Expose NUMA Nodes    2
    Guest vCPUs Should Be Balanced Over Its Nodes
    Guest vCPUs Per Node Should Be    33    33
    Every Guest Node Should Have Memory
    Guest Memory Should Total At Least    65536
    Guest GPUs Should Report NUMA Node    1

Guest Checks Fail With Expected And Observed
    [Documentation]    Each guest check fails on a report that breaks it, saying what it expected.
    ${text}    Get File    ${FIXTURES}/guest/guest-report-gpu-no-affinity.txt
    Parse Guest Report    ${text}
    Run Keyword And Expect Error    expected 2 guest NUMA node(s), found 1*    Guest Should Expose NUMA Nodes    2
    Run Keyword And Expect Error    *0000:02:00.0 on -1*    Guest GPUs Should Report NUMA Node    0
    Run Keyword And Expect Error    *less than the 65536 MiB*    Guest Memory Should Total At Least    65536

A Report Without numa_online Fails Clearly
    [Documentation]    Probe output missing the required key fails quoting what it found.
    ${text}    Get File    ${FIXTURES}/guest/guest-report-no-online.txt
    Run Keyword And Expect Error    guest report has no 'numa_online:' line*    Parse Guest Report    ${text}

Drop-In Is Written And Restored Byte For Byte
    [Documentation]    An admin's drop-in of the same name is put back exactly after the suite's own.
    Find Active Runtime Configuration    ${SHIM}    kata-${SHIM}
    Install NUMA Drop-In    enable_vcpus_pinning=${True}    name=50-admin.toml
    ${ours}    Get File    ${TREE}${RUNTIME_DIR}/config.d/50-admin.toml
    Should Contain    ${ours}    enable_numa = true
    Restore Drop-Ins
    ${after}    Get Binary File    ${TREE}${RUNTIME_DIR}/config.d/50-admin.toml
    ${before}    Get Binary File    ${TREE}/admin-original.toml
    Should Be Equal    ${after}    ${before}
    Suite Drop-Ins Should Be Gone

A Bad Mapping Leaves Nothing Behind
    [Documentation]    A numa_mapping that is not a node list fails before anything is written.
    Find Active Runtime Configuration    ${SHIM}
    VAR    @{mapping}    1    nodes
    Run Keyword And Expect Error    numa_mapping entry 1*    Install NUMA Drop-In    numa_mapping=${mapping}
    Suite Drop-Ins Should Be Gone


*** Keywords ***
Prepare A Node Tree With The GPU Shim's Configuration
    [Documentation]    Builds a node tree holding the shim's configuration and an admin drop-in.
    Remove Directory    ${TREE}    recursive=${True}
    Copy File    ${FIXTURES}/config/configuration-${SHIM}.toml    ${TREE}${RUNTIME_DIR}/configuration-${SHIM}.toml
    Create Binary File    ${TREE}/admin-original.toml    [runtime]\r\nenable_debug = true\n
    Copy File    ${TREE}/admin-original.toml    ${TREE}${RUNTIME_DIR}/config.d/50-admin.toml
    Use Local Host Access    root=${TREE}
