# hlsfleet on AWS: S3 -> SQS -> spot worker ASGs (CPU and GPU), a Lambda for
# short clips that also sends live segments to a FIFO queue (one group per
# stream), alarms and a dashboard. Names and timing shared by several files
# live here.

data "aws_caller_identity" "current" {}

data "aws_region" "current" {}

data "aws_partition" "current" {}

locals {
  account_id = data.aws_caller_identity.current.account_id
  region     = data.aws_region.current.name
  partition  = data.aws_partition.current.partition

  source_bucket = var.source_bucket_name != "" ? var.source_bucket_name : "${var.name}-source-${local.account_id}"
  output_bucket = var.output_bucket_name != "" ? var.output_bucket_name : "${var.name}-output-${local.account_id}"

  cpu_asg_name        = "${var.name}-cpu"
  gpu_asg_name        = "${var.name}-gpu"
  lifecycle_hook_name = "${var.name}-drain"

  # One number drives the queue and the worker: the queues' visibility
  # timeout is the worker's --visibility, and the worker extends every lease
  # each visibility/3, so a lease survives two missed heartbeats.
  heartbeat_interval_seconds = floor(var.visibility_timeout_seconds / 3)

  # Scale-in: the hook holds the instance for the drain plus a margin to
  # release leases and call CompleteLifecycleAction. The container gets the
  # same time to stop.
  lifecycle_heartbeat_seconds = var.drain_timeout_seconds + var.lifecycle_margin_seconds
  container_stop_seconds      = local.lifecycle_heartbeat_seconds

  # Target tracking: each instance may hold this many queued + running jobs.
  cpu_backlog_target = var.acceptable_latency_seconds / var.cpu_seconds_per_job
  gpu_backlog_target = var.acceptable_latency_seconds / var.gpu_seconds_per_job

  # Job rules (worker --rules): S3 events to job documents. Outputs go to
  # the output bucket, so an output never triggers a job.
  worker_rules = [
    { bucket = local.source_bucket, prefix = var.live_prefix, kind = "live-segment", output = "s3://${local.output_bucket}/live/{stream}/" },
    { bucket = local.source_bucket, prefix = var.upload_prefix, output = "s3://${local.output_bucket}/vod/{stem}/" },
    { bucket = local.source_bucket, prefix = var.short_clip_prefix, output = "s3://${local.output_bucket}/clips/{stem}/" },
  ]

  common_worker_args = [
    "--visibility", "${var.visibility_timeout_seconds}s",
    "--drain-timeout", "${var.drain_timeout_seconds}s",
    "--max-memory", tostring(var.max_memory_mib),
    "--rules", "/etc/hlsfleet/rules.json",
    "--log-level", var.log_level,
  ]

  protection_args = var.scale_in_protection ? ["--scale-in-protection"] : []

  # CPU instances run two workers: VOD jobs, and live segments (a FIFO
  # queue of short jobs that must not wait behind an hour-long film). Only
  # the VOD worker holds the lifecycle hook: it drains the longest jobs, and
  # the live worker finishes its seconds-long segments within the container
  # stop timeout.
  cpu_vod_worker_args = concat([
    "worker",
    "--queue", aws_sqs_queue.jobs.url,
    "--dlq", aws_sqs_queue.jobs_dlq.url,
    "--concurrency", tostring(var.cpu_concurrency),
    "--metrics-addr", "127.0.0.1:${var.metrics_port}",
    "--accel", "cpu",
    "--asg", local.cpu_asg_name,
    "--lifecycle-hook", local.lifecycle_hook_name,
  ], local.common_worker_args, local.protection_args)

  cpu_live_worker_args = concat([
    "worker",
    "--queue", aws_sqs_queue.live.url,
    "--dlq", aws_sqs_queue.live_dlq.url,
    "--concurrency", tostring(var.live_concurrency),
    "--metrics-addr", "127.0.0.1:${var.metrics_port + 1}",
    "--accel", "cpu",
  ], local.common_worker_args)

  # GPU instances read the GPU queue and, while it is idle, the jobs queue.
  gpu_worker_args = concat([
    "worker",
    "--queue", aws_sqs_queue.gpu.url,
    "--dlq", aws_sqs_queue.gpu_dlq.url,
    "--fallback-queue", aws_sqs_queue.jobs.url,
    "--concurrency", tostring(var.gpu_concurrency),
    "--metrics-addr", "127.0.0.1:${var.metrics_port}",
    "--accel", "nvidia",
    "--asg", local.gpu_asg_name,
    "--lifecycle-hook", local.lifecycle_hook_name,
  ], local.common_worker_args, local.protection_args)

  # ECR repositories the images come from (empty for other registries).
  ecr_images = { for k, img in { worker = var.worker_image, worker_gpu = var.worker_gpu_image } :
    k => regex("^([0-9]{12})\\.dkr\\.ecr\\.([a-z0-9-]+)\\.amazonaws\\.com(\\.cn)?/([^:@]+)", img)
    if can(regex("^([0-9]{12})\\.dkr\\.ecr\\.([a-z0-9-]+)\\.amazonaws\\.com(\\.cn)?/([^:@]+)", img))
  }
  ecr_repository_arns = distinct([for m in values(local.ecr_images) : "arn:${local.partition}:ecr:${m[1]}:${m[0]}:repository/${m[3]}"])
  ecr_registries      = distinct([for k, img in { worker = var.worker_image, worker_gpu = var.worker_gpu_image } : split("/", img)[0] if contains(keys(local.ecr_images), k)])

  tags = merge({ "app" = "hlsfleet", "hlsfleet:deployment" = var.name }, var.tags)
}
