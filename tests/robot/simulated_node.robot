*** Settings ***
Documentation    The simulated node's keyword library: it starts a node that the other libraries and
...              KubeLibrary reach like a real one, runs several at once, and removes them on stop.

Library          OperatingSystem
Library          NodeAccess
Library          HostTopology
Library          SimulatedNode

Test Tags        libraries    sim


*** Variables ***
${TOPOLOGIES}    ${CURDIR}/../../variables/topologies


*** Test Cases ***
A Simulated Node Looks Like A Two-Socket GPU Host
    [Documentation]    The default simulated node has two CPU-bearing nodes and a GPU on node 1.
    ${kubeconfig}    ${root}    Start Simulated Node
    Use Local Host Access    root=${root}
    Read Host Topology
    Skip Unless Host Has Several CPU-Bearing Nodes
    ${gpu_node}    Get Host Node Of PCI Device    0000:41:00.0
    Should Be Equal As Integers    ${gpu_node}    1
    Import Library    KubeLibrary    kube_config=${kubeconfig}    AS    SimCluster
    ${healthy}    SimCluster.Get Healthy Nodes Count
    Should Be Equal As Integers    ${healthy}    1
    [Teardown]    Stop Simulated Node

Two Simulated Nodes Run Side By Side And Leave Nothing Behind
    [Documentation]    Each node has its own tree; stopping removes it.
    ${first}    ${first_root}    Start Simulated Node
    ${second}    ${second_root}    Start Simulated Node    topology=${TOPOLOGIES}/four-node-snc.yaml
    Should Not Be Equal    ${first_root}    ${second_root}
    Stop Simulated Node    ${first}
    Directory Should Not Exist    ${first_root}
    Directory Should Exist    ${second_root}
    Stop Simulated Node    ${second}
    Directory Should Not Exist    ${second_root}

A Bad Fault Name Is Refused With The Catalogue
    [Documentation]    An unknown fault fails at start and lists the known ones.
    Run Keyword And Expect Error    SIM_FAULTS: unknown no-such-fault; known: guest-single-node*
    ...    Start Simulated Node    faults=no-such-fault
