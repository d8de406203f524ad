"""From a config to a results file: plan, training units, estimation units, assembly.

Every unit is a pure function of (config, unit): the parallel backends hand
them out in any order, to any worker, and the file comes out the same.
"""
