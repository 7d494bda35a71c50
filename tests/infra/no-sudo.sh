#!/bin/sh
# Stands in for sudo in the infrastructure tests: the control node has no
# passwordless sudo (an operator's laptop) and sudo would drop the AWS
# credentials anyway (a CI runner), so any task that escalates there fails.
echo "sudo: a password is required" >&2
exit 1
