"""The simulated Kata node: host topologies from YAML and the files a real node shows.

Uses the core; the core never imports this package.
"""
