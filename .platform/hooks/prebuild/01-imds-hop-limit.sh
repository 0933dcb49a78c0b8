#!/usr/bin/env bash
# Lets the container reach the instance metadata service (IMDSv2): the instance role's credentials, and the private
# IPv4 that ALLOWED_HOSTS_FROM_EC2 adds (the Host of EB's health checks). A token response must survive one more hop
# (the Docker bridge) than the default hop limit of 1 allows. Without it S3 calls have no credentials and every
# health check is a 400, so the instance could never become healthy: this hook fails the deployment instead, with
# the reason, in /var/log/eb-hooks.log and the environment's events.
# Runs on the instance (as root) before the container starts; needs ec2:ModifyInstanceMetadataOptions (deploy/).
# The change applies asynchronously (the call answers "pending"). The hook does not wait for "applied": reading the
# state needs ec2:DescribeInstances, which cannot be limited to one instance and which the container would then hold
# too; instead the service keeps retrying its instance-IP lookup, and the SDK its credentials, until IMDS answers.
set -euo pipefail

fail() {
  echo "IMDS hop limit NOT raised: $1" >&2
  echo 'Without it the container reaches neither the instance role nor the instance IP (health checks get 400).' >&2
  exit 1
}

command -v aws >/dev/null || fail 'the AWS CLI (aws) is not installed on this instance (the EB AL2023 platforms include it)'

imds=http://169.254.169.254
token=$(curl -fsS --retry 3 -X PUT "$imds/latest/api/token" -H 'X-aws-ec2-metadata-token-ttl-seconds: 60') ||
  fail 'the instance metadata service did not answer'
metadata() { curl -fsS --retry 3 -H "X-aws-ec2-metadata-token: $token" "$imds/latest/meta-data/$1"; }
instance_id=$(metadata instance-id) || fail 'could not read the instance id'
region=$(metadata placement/region) || fail 'could not read the region'

aws ec2 modify-instance-metadata-options --region "$region" --instance-id "$instance_id" \
  --http-endpoint enabled --http-tokens required --http-put-response-hop-limit 2 >/dev/null ||
  fail "aws ec2 modify-instance-metadata-options was refused for $instance_id: does the instance role grant \
ec2:ModifyInstanceMetadataOptions on instances tagged with this environment's name (deploy/iam-policy.json)?"
echo "IMDS on $instance_id: tokens required (IMDSv2 only), hop limit 2"
