"""Environment adapters. An adapter never imports agent/: it speaks batched numpy arrays."""
