*** Settings ***
Documentation    The host-side keyword libraries against the fixture node: a two-socket GPU host
...              whose procfs holds QEMU sandboxes in every placement shape.

Library          NodeAccess
Library          HostTopology
Library          QemuCommandLine
Library          VcpuPinning

Suite Setup      Use Local Host Access    proc=${PROC}    sys=${SYS}

Test Tags        libraries


*** Variables ***
${FIXTURES}       ${CURDIR}/../fixtures
${PROC}           ${FIXTURES}/procs/node/proc
${SYS}            ${FIXTURES}/hosts/two-socket-gpu/sys
${GPU_SANDBOX}    5f2e9c0d7a6b4c1e8f3a2b1c0d9e8f7a6b5c4d3e2f1a0b9c8d7e6f5a4b3c2d1e
${RIGHT_SIZED}    9a8b7c6d5e4f30211203f4e5d6c7b8a99a8b7c6d5e4f30211203f4e5d6c7b8a9
${STATIC_PID}     5100
${STACKED_PID}    6100
${UNNAMED_PID}    7100


*** Test Cases ***
GPU Sandbox Spans Both Host Nodes
    [Documentation]    The GPU sandbox's vCPU threads are confined to their nodes, balanced, each on
    ...    the host node of its guest node, and its GPU sits below the pxb-pcie of the GPU's node.
    Skip Unless Host Has Several CPU-Bearing Nodes
    ${pid}    Read QEMU Command Line Of Sandbox    ${GPU_SANDBOX}
    Guest Node Memory Should Be Bound To Host Nodes    1    1
    ${gpu_node}    Get Host Node Of PCI Device    0000:41:00.0
    VFIO Device Should Sit On Guest Node    0000:41:00.0    ${gpu_node}
    Probe vCPU Placement    ${pid}
    Placed vCPU Threads Should Number    65
    vCPU Threads Should Be Balanced Over Host Nodes    0-1
    Each vCPU Should Run On The Host Node Of Its Guest Node

Right-Sized Sandbox Stays On The GPU's Node
    [Documentation]    The right-sized sandbox binds its memory to host node 1 and keeps its vCPUs there.
    ${pid}    Read QEMU Command Line Of Sandbox    ${RIGHT_SIZED}
    Every Memory Backend Should Be Bound To Host Nodes    1
    Wait Until vCPU Threads Are Placed    ${pid}    timeout=2s
    vCPU Threads Should Be On Host Node    1

Static Policy Pins Each vCPU To A CPU Of Its Own
    [Documentation]    Under the static policy every vCPU thread holds a CPU no other vCPU holds.
    Probe vCPU Placement    ${STATIC_PID}
    Single-CPU vCPU Threads Should Number    8
    No Two vCPU Threads Should Hold The Same CPU
    vCPU Threads Per Host Node Should Match Guest Layout    4    4

Stacked vCPUs Are Caught Although The Per-Node Count Passes
    [Documentation]    The stacking bug passes a per-node count and fails the shared-CPU check.
    Probe vCPU Placement    ${STACKED_PID}
    vCPU Threads Should Be Balanced Over Host Nodes    0-1
    Run Keyword And Expect Error    vCPU threads stacked on shared CPUs: CPU 0 held by tids*
    ...    No Two vCPU Threads Should Hold The Same CPU
    Run Keyword And Expect Error    *both pin vCPUs to CPUs 0,32
    ...    Sandboxes Should Not Share Pinned CPUs    ${STACKED_PID}    ${UNNAMED_PID}

Wrong Host Node Is Reported With Expected And Observed
    [Documentation]    A check for the wrong node fails naming both nodes.
    Probe vCPU Placement    ${UNNAMED_PID}
    Run Keyword And Expect Error    spread over nodes 0-1*    vCPU Threads Should Be On One Host Node
    Read QEMU Command Line Of Sandbox    ${RIGHT_SIZED}
    Run Keyword And Expect Error    *host-nodes=1 instead of 0*
    ...    Every Memory Backend Should Be Bound To Host Nodes    0

Host Access Takes Few Round Trips
    [Documentation]    The probes so far read files in a bounded number of operations.
    Host Round Trips Should Be At Most    40
