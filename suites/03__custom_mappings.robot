*** Settings ***
Documentation    Explicit mappings as data: each row is a ``numa_mapping`` (one host node list per guest
...              node) and the guest must get one node per entry, each bound to exactly those host nodes,
...              with every vCPU thread on the host nodes of its guest node. Add a row to add a case.

Resource         ../resources/numa.resource

Test Setup       Start NUMA Scenario
Test Teardown    Finish NUMA Scenario    ${POD_CUSTOM}
Test Template    Guest Nodes Should Be Backed By The Mapped Host Nodes

Test Tags        numa    mapping    qemu-only


*** Test Cases ***    GUEST NODE 0    GUEST NODE 1
Two Guest Nodes Each Backed By Two Host Nodes    0-1    2-3
Two Guest Nodes Each Backed By One Host Node    0    1
