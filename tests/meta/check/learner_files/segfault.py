import os, signal

def pure_state_update(seed, x, features, scale):
    os.kill(os.getpid(), signal.SIGSEGV)
