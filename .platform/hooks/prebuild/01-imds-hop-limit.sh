#!/usr/bin/env bash
# Lets the container reach the instance role. With IMDSv2 the token response must survive one more hop (the Docker
# bridge) than the default hop limit of 1 allows; without this the SDK times out and S3 calls fail.
# Runs on the instance (as root) before the container starts; needs ec2:ModifyInstanceMetadataOptions (deploy/).
set -euo pipefail

imds=http://169.254.169.254
token=$(curl -fsS -X PUT "$imds/latest/api/token" -H 'X-aws-ec2-metadata-token-ttl-seconds: 60')
metadata() { curl -fsS -H "X-aws-ec2-metadata-token: $token" "$imds/latest/meta-data/$1"; }
instance_id=$(metadata instance-id)
region=$(metadata placement/region)

aws ec2 modify-instance-metadata-options --region "$region" --instance-id "$instance_id" \
  --http-endpoint enabled --http-tokens required --http-put-response-hop-limit 2 >/dev/null
echo "IMDS on $instance_id: tokens required (IMDSv2 only), hop limit 2"
