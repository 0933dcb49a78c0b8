#!/usr/bin/env bash
# Sends the service's Prometheus metrics to CloudWatch through the CloudWatch agent that EB's Amazon Linux 2023
# platforms run for log streaming. Opt-in: copy this file to .platform/hooks/postdeploy/ and
# .platform/confighooks/postdeploy/ (so a changed METRICS_TOKEN is picked up), then set METRICS_TOKEN (README, Metrics).
# The agent scrapes GET /metrics through EB's nginx on 127.0.0.1:80 with the token, once a minute, and writes
# embedded-metric-format logs to /aws/elasticbeanstalk/s3-file-service/prometheus, from which CloudWatch makes metrics
# in the namespace s3-file-service. AWSElasticBeanstalkWebTier's CloudWatchLogsAccess statement lets the instance write
# to log groups under /aws/elasticbeanstalk (CreateLogStream, PutLogEvents) but not create one (no
# logs:CreateLogGroup): create this group once beforehand (docs/operations.md, CloudWatch on Elastic Beanstalk).
set -euo pipefail

token=$(/opt/elasticbeanstalk/bin/get-config environment -k METRICS_TOKEN 2>/dev/null || true)
if [ -z "$token" ]; then
  echo "METRICS_TOKEN is not set: the service's metrics are not sent to CloudWatch"
  exit 0
fi

dir=/opt/s3-file-service-metrics
umask 077
mkdir -p "$dir"
printf '%s' "$token" >"$dir/token"

cat >"$dir/prometheus.yaml" <<EOF
global:
  scrape_interval: 1m
  scrape_timeout: 10s
scrape_configs:
  - job_name: s3-file-service
    metrics_path: /metrics
    authorization:
      credentials_file: $dir/token
    static_configs:
      - targets: ['127.0.0.1:80']
EOF

# Histograms are dropped by the agent and counters arrive as per-minute deltas (AWS: "Prometheus metric type
# conversion by the CloudWatch agent"); latency in CloudWatch comes from EB's enhanced health and the load balancer.
cat >"$dir/cloudwatch-agent.json" <<EOF
{
  "logs": {
    "metrics_collected": {
      "prometheus": {
        "log_group_name": "/aws/elasticbeanstalk/s3-file-service/prometheus",
        "prometheus_config_path": "$dir/prometheus.yaml",
        "emf_processor": {
          "metric_namespace": "s3-file-service",
          "metric_unit": {
            "http_request_bytes_total": "Bytes",
            "http_response_bytes_total": "Bytes",
            "s3_credentials_expires_in_seconds": "Seconds",
            "process_resident_memory_bytes": "Bytes",
            "nodejs_eventloop_lag_p99_seconds": "Seconds"
          },
          "metric_declaration": [
            {
              "source_labels": ["job"],
              "label_matcher": "^s3-file-service$",
              "dimensions": [["route", "method", "status"]],
              "metric_selectors": ["^http_requests_total$"]
            },
            {
              "source_labels": ["job"],
              "label_matcher": "^s3-file-service$",
              "dimensions": [["route", "method"]],
              "metric_selectors": ["^http_request_bytes_total$", "^http_response_bytes_total$", "^http_responses_incomplete_total$"]
            },
            {
              "source_labels": ["job"],
              "label_matcher": "^s3-file-service$",
              "dimensions": [["operation", "outcome"]],
              "metric_selectors": ["^s3_requests_total$"]
            },
            {
              "source_labels": ["job"],
              "label_matcher": "^s3-file-service$",
              "dimensions": [["operation"]],
              "metric_selectors": ["^s3_retries_total$"]
            },
            {
              "source_labels": ["job"],
              "label_matcher": "^s3-file-service$",
              "dimensions": [["job"]],
              "metric_selectors": [
                "^http_uploads_in_flight$",
                "^http_downloads_in_flight$",
                "^s3_credentials_expires_in_seconds$",
                "^process_resident_memory_bytes$",
                "^nodejs_eventloop_lag_p99_seconds$"
              ]
            }
          ]
        }
      }
    }
  }
}
EOF

# append-config keeps EB's own agent configuration (log streaming) and restarts the agent with both.
/opt/aws/amazon-cloudwatch-agent/bin/amazon-cloudwatch-agent-ctl -a append-config -m ec2 -s -c "file:$dir/cloudwatch-agent.json"
echo "CloudWatch agent: scraping the service's /metrics into the namespace s3-file-service"
