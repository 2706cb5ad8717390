"""The ``mlpilot`` command, its settings and the wiring of real parts."""
