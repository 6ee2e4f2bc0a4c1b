"""The engine's command line: `medview train|study|tune|runs|predict|export|apply|merge`."""
