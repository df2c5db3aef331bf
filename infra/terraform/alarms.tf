# Alarms to one SNS topic: every DLQ not empty, the oldest message of every
# work queue too old, worker error lines (a log metric filter), Lambda errors.

resource "aws_sns_topic" "alarms" {
  name = "${var.name}-alarms"
  tags = local.tags
}

resource "aws_sns_topic_subscription" "email" {
  count     = var.alarm_email != "" ? 1 : 0
  topic_arn = aws_sns_topic.alarms.arn
  protocol  = "email"
  endpoint  = var.alarm_email
}

locals {
  dlqs = {
    jobs  = aws_sqs_queue.jobs_dlq.name
    gpu   = aws_sqs_queue.gpu_dlq.name
    live  = aws_sqs_queue.live_dlq.name
    clips = aws_sqs_queue.clips_dlq.name
  }
  work_queues = {
    jobs = { name = aws_sqs_queue.jobs.name, max_age = var.oldest_message_alarm_seconds }
    gpu  = { name = aws_sqs_queue.gpu.name, max_age = var.oldest_message_alarm_seconds }
    live = { name = aws_sqs_queue.live.name, max_age = var.live_oldest_message_alarm_seconds }
  }
}

resource "aws_cloudwatch_metric_alarm" "dlq_not_empty" {
  for_each = local.dlqs

  alarm_name          = "${var.name}-${each.key}-dlq-not-empty"
  alarm_description   = "Messages in ${each.value}: inspect with `hlsfleet dlq list`, fix, then `hlsfleet dlq redrive` (docs/OPERATIONS.md)."
  namespace           = "AWS/SQS"
  metric_name         = "ApproximateNumberOfMessagesVisible"
  dimensions          = { QueueName = each.value }
  statistic           = "Maximum"
  period              = 60
  evaluation_periods  = 1
  comparison_operator = "GreaterThanThreshold"
  threshold           = 0
  treat_missing_data  = "notBreaching"
  alarm_actions       = [aws_sns_topic.alarms.arn]
  ok_actions          = [aws_sns_topic.alarms.arn]
  tags                = local.tags
}

resource "aws_cloudwatch_metric_alarm" "oldest_message" {
  for_each = local.work_queues

  alarm_name          = "${var.name}-${each.key}-oldest-message"
  alarm_description   = "A message in ${each.value.name} has waited more than ${each.value.max_age} s: the fleet is short of capacity or stuck."
  namespace           = "AWS/SQS"
  metric_name         = "ApproximateAgeOfOldestMessage"
  dimensions          = { QueueName = each.value.name }
  statistic           = "Maximum"
  period              = 60
  evaluation_periods  = 3
  comparison_operator = "GreaterThanThreshold"
  threshold           = each.value.max_age
  treat_missing_data  = "notBreaching"
  alarm_actions       = [aws_sns_topic.alarms.arn]
  ok_actions          = [aws_sns_topic.alarms.arn]
  tags                = local.tags
}

# The worker logs JSON lines (zap); error-level lines become a metric.
resource "aws_cloudwatch_log_metric_filter" "worker_errors" {
  name           = "${var.name}-worker-errors"
  log_group_name = aws_cloudwatch_log_group.workers.name
  pattern        = "{ $.level = \"error\" }"

  metric_transformation {
    name          = "WorkerErrors"
    namespace     = "hlsfleet"
    value         = "1"
    default_value = "0"
  }
}

resource "aws_cloudwatch_metric_alarm" "worker_errors" {
  alarm_name          = "${var.name}-worker-errors"
  alarm_description   = "Workers logged more than ${var.worker_error_threshold} error lines in 5 minutes (log group ${aws_cloudwatch_log_group.workers.name})."
  namespace           = "hlsfleet"
  metric_name         = aws_cloudwatch_log_metric_filter.worker_errors.metric_transformation[0].name
  statistic           = "Sum"
  period              = 300
  evaluation_periods  = 1
  comparison_operator = "GreaterThanThreshold"
  threshold           = var.worker_error_threshold
  treat_missing_data  = "notBreaching"
  alarm_actions       = [aws_sns_topic.alarms.arn]
  ok_actions          = [aws_sns_topic.alarms.arn]
  tags                = local.tags
}

resource "aws_cloudwatch_metric_alarm" "lambda_errors" {
  alarm_name          = "${var.name}-clips-lambda-errors"
  alarm_description   = "The short-clip Lambda failed (after its retries the event lands in the clips DLQ)."
  namespace           = "AWS/Lambda"
  metric_name         = "Errors"
  dimensions          = { FunctionName = aws_lambda_function.clips.function_name }
  statistic           = "Sum"
  period              = 300
  evaluation_periods  = 1
  comparison_operator = "GreaterThanThreshold"
  threshold           = 0
  treat_missing_data  = "notBreaching"
  alarm_actions       = [aws_sns_topic.alarms.arn]
  tags                = local.tags
}
