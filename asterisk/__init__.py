"""The PBX side (adapters): the AMI listener and its root, the API's AMI actions, the one AMI parser, and Asterisk
config snippets (`conf/`). The capture-replaying AMI simulator is a tool of its own, `amisim/`, outside the product."""
