"""The Asterisk adapter: AMI connection, event translation and call-control actions."""
