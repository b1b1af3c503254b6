"""The plugins: each module is a `cni.skel` plugin (NAME plus one function per verb)."""
