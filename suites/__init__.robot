*** Settings ***
Documentation     Kata Containers places sandboxes correctly on multi-NUMA hosts.
...
...               Runs against the built-in simulated Kata node (TARGET=sim) or a real cluster and node
...               (TARGET=cluster). The setup connects, logs a preflight table and removes drop-ins left
...               by a crashed earlier run; the teardown leaves the runtime configuration exactly as found.

Resource          ../resources/target.resource

Suite Setup       Connect To The Target And Run Preflight
Suite Teardown    Disconnect From The Target


*** Keywords ***
Connect To The Target And Run Preflight
    [Documentation]    Connects to the target named by ``TARGET``, then logs and cleans what the run will use.
    Connect To The Target
    Run Preflight
