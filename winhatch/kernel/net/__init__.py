"""The network below the sockets driver (winhatch.kernel.io.afd): a fake internet by default
(`internet.Internet`), the real one with `--net host`, and the capture of every flow (`capture`)."""
