*** Settings ***
Documentation    Scenarios 1 to 5: the guest NUMA topology matches the host, memory is bound, vCPU
...              threads are placed on the right host nodes, GPUs stay local. They need a host with two
...              or more CPU-bearing NUMA nodes and skip with the reason elsewhere.

Resource         ../resources/numa.resource

Test Setup       Start NUMA Scenario


*** Variables ***
${POD_LARGE}        numa-large
${POD_SMALL}        numa-small
${POD_GPU_LARGE}    numa-gpu-large
${POD_GPU_SMALL}    numa-gpu-small
${POD_MAPPED}       numa-mapped


*** Test Cases ***
Large Pod Spans Every CPU-Bearing Host Node
    [Documentation]    A pod too large for any one node gets one guest node per CPU-bearing host node, vCPUs
    ...    split by host CPUs, memory on every node, and vCPU threads placed per the guest layout.
    [Tags]    scenario-1
    Skip Unless Host Has Several CPU-Bearing Nodes
    NUMA And vCPU Pinning Are Enabled By Drop-In
    ${cpu}    ${memory}    Deploy Large NUMA Pod    ${POD_LARGE}
    Guest Should Span Every CPU-Bearing Host Node    ${memory}
    Host Placement Should Follow The Guest Layout    ${cpu}
    Guest Memory Should Sit On Its Bound Host Nodes
    [Teardown]    Finish NUMA Scenario    ${POD_LARGE}

Small Pod Is Right-Sized To One Host Node
    [Documentation]    A pod that fits one node gets one guest node, and its vCPU threads share one host node.
    [Tags]    right-sizing    scenario-2
    Skip Unless Host Has Several CPU-Bearing Nodes
    NUMA And vCPU Pinning Are Enabled By Drop-In
    Deploy NUMA Pod    ${POD_SMALL}    ${NUMA_TEST_VCPUS_SMALL}    ${NUMA_TEST_MEMORY_SMALL}
    Guest Should Be Right-Sized To One Node    ${NUMA_TEST_VCPUS_SMALL}
    Host Placement Should Be On One Host Node    ${NUMA_TEST_VCPUS_SMALL}
    Guest Memory Should Sit On Its Bound Host Nodes
    [Teardown]    Finish NUMA Scenario    ${POD_SMALL}

GPU Pod Spanning Host Nodes Keeps Its GPU Local
    [Documentation]    A large GPU pod spans every node; its GPU sits below the pxb-pcie of the guest node that
    ...    covers the GPU's host node, the guest sees it there, and every backend is bound to its node.
    [Tags]    gpu    scenario-3
    Skip Unless Host Has Several CPU-Bearing Nodes
    Skip Unless GPU NUMA Is Supported
    NUMA And vCPU Pinning Are Enabled By Drop-In
    ${cpu}    ${memory}    Deploy Large NUMA Pod    ${POD_GPU_LARGE}    gpus=1
    Guest Should Span Every CPU-Bearing Host Node    ${memory}
    Memory Backends Should Bind Guest Nodes To CPU-Bearing Host Nodes
    GPU Should Be Local To Its Host Node
    Host Placement Should Follow The Guest Layout    ${cpu}
    Guest Memory Should Sit On Its Bound Host Nodes
    [Teardown]    Finish NUMA Scenario    ${POD_GPU_LARGE}

Small GPU Pod Lands On The GPU's Host Node
    [Documentation]    A GPU pod that fits one node is right-sized to the node of its GPU, not merely to a node
    ...    that fits: its one guest node (0) holds the GPU, memory is bound to exactly the GPU's host
    ...    node and the vCPU threads run there.
    [Tags]    gpu    right-sizing    scenario-4
    Skip Unless Host Has Several CPU-Bearing Nodes
    Skip Unless GPU NUMA Is Supported
    NUMA And vCPU Pinning Are Enabled By Drop-In
    Deploy NUMA Pod    ${POD_GPU_SMALL}    ${NUMA_TEST_VCPUS_SMALL}    ${NUMA_TEST_MEMORY_SMALL}    gpus=1
    Guest Should Be Right-Sized To One Node    ${NUMA_TEST_VCPUS_SMALL}
    ${gpu_node}    GPU Should Be Local To Its Host Node
    Sandbox Should Sit On The GPU's Host Node    ${gpu_node}    ${NUMA_TEST_VCPUS_SMALL}
    Guest Memory Should Sit On Its Bound Host Nodes
    [Teardown]    Finish NUMA Scenario    ${POD_GPU_SMALL}

Explicit NUMA Mapping Binds The Chosen Host Node
    [Documentation]    ``numa_mapping = ["N"]`` gives one guest node bound to host node N with policy=bind and
    ...    every vCPU thread on N; the drop-in is gone after the scenario.
    [Tags]    mapping    qemu-only    scenario-5
    Skip Unless Host Has Several CPU-Bearing Nodes
    Skip Unless The Hypervisor Is QEMU
    ${node}    Get Mapping Host Node    ${NUMA_MAPPING_NODE}
    NUMA And vCPU Pinning Are Enabled By Drop-In    ${node}
    Deploy NUMA Pod    ${POD_MAPPED}    ${NUMA_TEST_VCPUS_SMALL}    ${NUMA_TEST_MEMORY_SMALL}
    Guest Should Expose NUMA Nodes    1
    Every Memory Backend Should Be Bound To Host Nodes    ${node}
    Host Placement Should Be On Host Node    ${node}    ${NUMA_TEST_VCPUS_SMALL}
    Guest Memory Should Sit On Its Bound Host Nodes
    [Teardown]    Finish NUMA Scenario    ${POD_MAPPED}
