"""The restore flow: fetch -> verify -> replay -> prove. `restore` is command.py and `verify` (the drill) drill.py;
the phases are request.py (the option rules), target.py, fetch.py, replay.py (SQL), fixtures.py, prove.py, and
runtime.py (signals, work directory, timed phases)."""
