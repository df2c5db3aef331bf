output "source_bucket" {
  description = "Upload bucket: put VOD sources under upload_prefix, short clips under short_clip_prefix, live segments under live_prefix."
  value       = aws_s3_bucket.source.bucket
}

output "output_bucket" {
  description = "HLS output bucket (vod/, clips/, live/)."
  value       = aws_s3_bucket.output.bucket
}

output "jobs_queue_url" {
  description = "VOD jobs queue (hlsfleet submit --queue)."
  value       = aws_sqs_queue.jobs.url
}

output "gpu_queue_url" {
  description = "GPU jobs queue."
  value       = aws_sqs_queue.gpu.url
}

output "live_queue_url" {
  description = "Live-segment FIFO queue."
  value       = aws_sqs_queue.live.url
}

output "dlq_urls" {
  description = "Dead-letter queues by work queue (hlsfleet dlq list|redrive)."
  value = {
    jobs  = aws_sqs_queue.jobs_dlq.url
    gpu   = aws_sqs_queue.gpu_dlq.url
    live  = aws_sqs_queue.live_dlq.url
    clips = aws_sqs_queue.clips_dlq.url
  }
}

output "asg_names" {
  description = "Worker Auto Scaling groups (hlsfleet scale --asg)."
  value       = { for k, g in aws_autoscaling_group.worker : k => g.name }
}

output "lifecycle_hook_name" {
  description = "Termination lifecycle hook of both ASGs (worker --lifecycle-hook)."
  value       = local.lifecycle_hook_name
}

output "backlog_targets" {
  description = "Target backlog per instance of each ASG (acceptable latency / seconds per job)."
  value       = { cpu = local.cpu_backlog_target, gpu = local.gpu_backlog_target }
}

output "timing" {
  description = "The timing the module derived: queue visibility = worker --visibility, heartbeat, drain, lifecycle hook and container stop timeouts (seconds)."
  value = {
    visibility         = var.visibility_timeout_seconds
    heartbeat_interval = local.heartbeat_interval_seconds
    drain              = var.drain_timeout_seconds
    lifecycle_hook     = local.lifecycle_heartbeat_seconds
    container_stop     = local.container_stop_seconds
  }
}

output "lambda_function_name" {
  description = "Short-clip Lambda."
  value       = aws_lambda_function.clips.function_name
}

output "alarm_topic_arn" {
  description = "SNS topic every alarm notifies."
  value       = aws_sns_topic.alarms.arn
}

output "dashboard_name" {
  description = "CloudWatch dashboard."
  value       = aws_cloudwatch_dashboard.fleet.dashboard_name
}

output "worker_role_arn" {
  description = "IAM role of the worker instances."
  value       = aws_iam_role.worker.arn
}
