"""Training past RAM: the streaming cache's shards, codec and prefetching loader."""
