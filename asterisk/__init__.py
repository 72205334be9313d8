"""The PBX side: the AMI listener, a capture-replaying AMI simulator, and Asterisk config snippets."""
