# Broken on purpose: only the jobs DLQ and the jobs queue are alarmed; no
# worker errors alarm; no dashboard.
resource "aws_sns_topic" "alarms" {
  name = "alarms"
}

resource "aws_sqs_queue" "jobs_dlq" {
  name = "jobs-dlq"
}

resource "aws_sqs_queue" "jobs" {
  name = "jobs"
  redrive_policy = jsonencode({
    deadLetterTargetArn = aws_sqs_queue.jobs_dlq.arn
    maxReceiveCount     = 5
  })
}

resource "aws_sqs_queue" "gpu_dlq" {
  name = "gpu-dlq"
}

resource "aws_sqs_queue" "gpu" {
  name = "gpu"
  redrive_policy = jsonencode({
    deadLetterTargetArn = aws_sqs_queue.gpu_dlq.arn
    maxReceiveCount     = 5
  })
}

resource "aws_cloudwatch_metric_alarm" "jobs_dlq" {
  alarm_name          = "jobs-dlq-not-empty"
  namespace           = "AWS/SQS"
  metric_name         = "ApproximateNumberOfMessagesVisible"
  dimensions          = { QueueName = aws_sqs_queue.jobs_dlq.name }
  statistic           = "Maximum"
  period              = 60
  evaluation_periods  = 1
  comparison_operator = "GreaterThanThreshold"
  threshold           = 0
  alarm_actions       = [aws_sns_topic.alarms.arn]
}

resource "aws_cloudwatch_metric_alarm" "jobs_age" {
  alarm_name          = "jobs-oldest"
  namespace           = "AWS/SQS"
  metric_name         = "ApproximateAgeOfOldestMessage"
  dimensions          = { QueueName = aws_sqs_queue.jobs.name }
  statistic           = "Maximum"
  period              = 60
  evaluation_periods  = 3
  comparison_operator = "GreaterThanThreshold"
  threshold           = 1800
  alarm_actions       = [aws_sns_topic.alarms.arn]
}
