*** Settings ***
Documentation    Scenarios 6 and 7: vCPU threads never stack on shared host CPUs, across two sandboxes or
...              between two guest nodes mapped onto one host node (the bug that made Kata ship with
...              pinning off). They run on single-NUMA hosts too.

Resource         ../resources/numa.resource

Test Setup       Start NUMA Scenario


*** Variables ***
${POD_FIRST}     numa-pair
${POD_SECOND}    numa-pair-b
${POD_SHARED}    numa-shared-node


*** Test Cases ***
Two Sandboxes Side By Side Never Share A Host CPU
    [Documentation]    Two small pods on one node (names sharing a prefix, resolved by exact name) are each
    ...    placed correctly and no host CPU is held as a single CPU by both.
    [Tags]    scenario-6
    NUMA And vCPU Pinning Are Enabled By Drop-In
    ${first}    Deploy NUMA Pod    ${POD_FIRST}    ${NUMA_TEST_VCPUS_SMALL}    ${NUMA_TEST_MEMORY_SMALL}
    Host Placement Should Be On One Host Node    ${NUMA_TEST_VCPUS_SMALL}
    ${node}    Get Node Of Pod    ${POD_FIRST}
    ${second}    Deploy NUMA Pod    ${POD_SECOND}    ${NUMA_TEST_VCPUS_SMALL}    ${NUMA_TEST_MEMORY_SMALL}
    ...    node=${node}
    Host Placement Should Be On One Host Node    ${NUMA_TEST_VCPUS_SMALL}
    Sandboxes Should Not Share Pinned CPUs    ${first}    ${second}
    Guest Memory Should Sit On Its Bound Host Nodes    ${first}    ${second}
    [Teardown]    Finish NUMA Scenario    ${POD_FIRST}    ${POD_SECOND}

Two Guest Nodes On One Host Node Keep One vCPU Per CPU
    [Documentation]    ``numa_mapping = ["0", "0"]`` gives two guest nodes on host node 0; every vCPU thread is
    ...    placed there and no host CPU is held by two vCPU threads.
    [Tags]    mapping    qemu-only    scenario-7
    Skip Unless The Hypervisor Is QEMU
    NUMA And vCPU Pinning Are Enabled By Drop-In    0    0
    Deploy NUMA Pod    ${POD_SHARED}    ${NUMA_TEST_VCPUS_SMALL}    ${NUMA_TEST_MEMORY_SMALL}
    Guest Should Expose NUMA Nodes    2
    Host Placement Should Be On Host Node    0    ${NUMA_TEST_VCPUS_SMALL}
    Guest Memory Should Sit On Its Bound Host Nodes
    [Teardown]    Finish NUMA Scenario    ${POD_SHARED}
