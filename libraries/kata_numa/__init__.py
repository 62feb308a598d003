"""Typed core of the Kata NUMA acceptance suite.

Parsers and analysers for what a Kata node shows about NUMA placement (sysfs,
procfs, the QEMU command line, the guest probe report, the runtime's TOML
files), plus host access, the only module that performs I/O. Importable and
testable without Robot Framework.
"""

__version__ = "0.1.0"
