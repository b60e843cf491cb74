"""Lazy-mode scenarios: every stop-and-copy scenario again with `--mode lazy` (memory follows
on demand, with prefetch and push), plus what only lazy mode has."""
import functools

import scenarios_migrate as sm

# The stop-and-copy scenarios that migrate a running program (refusals are mode-blind).
AGAIN = [sm.counter_moves, sm.heap_and_stack, sm.dynamic_tls_vdso, sm.blocked_in_syscalls,
         sm.vector_registers, sm.big_heap, sm.signal_state, sm.private_file_mapping,
         sm.back_and_forth, sm.user_migrates_own_process, sm.madvise_flags_survive]


def lazy(f):
    @functools.wraps(f)
    def run(lab):
        sm.MODE_ARGS = '--mode lazy'
        try:
            f(lab)
        finally:
            sm.MODE_ARGS = ''
    run.__name__ = 'lazy_' + f.__name__
    run.__doc__ = 'Lazy mode: ' + f.__doc__.strip()
    return run


ALL = [lazy(f) for f in AGAIN]
