# One dashboard: queue depth and age, DLQs, fleet size, backlog per instance
# (the scaling metric), worker errors, the Lambda.

locals {
  dashboard_widgets = [
    {
      type = "metric", x = 0, y = 0, width = 12, height = 6
      properties = {
        title  = "Queue depth (visible + in flight)"
        region = local.region
        stat   = "Sum"
        period = 60
        metrics = flatten([for k, q in local.work_queues : [
          ["AWS/SQS", "ApproximateNumberOfMessagesVisible", "QueueName", q.name, { label = "${k} visible" }],
          ["AWS/SQS", "ApproximateNumberOfMessagesNotVisible", "QueueName", q.name, { label = "${k} in flight" }],
        ]])
      }
    },
    {
      type = "metric", x = 12, y = 0, width = 12, height = 6
      properties = {
        title   = "Age of oldest message (s)"
        region  = local.region
        stat    = "Maximum"
        period  = 60
        metrics = [for k, q in local.work_queues : ["AWS/SQS", "ApproximateAgeOfOldestMessage", "QueueName", q.name, { label = k }]]
      }
    },
    {
      type = "metric", x = 0, y = 6, width = 12, height = 6
      properties = {
        title   = "Dead-letter queues"
        region  = local.region
        stat    = "Maximum"
        period  = 60
        metrics = [for k, name in local.dlqs : ["AWS/SQS", "ApproximateNumberOfMessagesVisible", "QueueName", name, { label = k }]]
      }
    },
    {
      type = "metric", x = 12, y = 6, width = 12, height = 6
      properties = {
        title  = "Workers in service / desired"
        region = local.region
        stat   = "Average"
        period = 60
        metrics = flatten([for k, f in local.fleets : [
          ["AWS/AutoScaling", "GroupInServiceInstances", "AutoScalingGroupName", f.asg_name, { label = "${k} in service" }],
          ["AWS/AutoScaling", "GroupDesiredCapacity", "AutoScalingGroupName", f.asg_name, { label = "${k} desired" }],
        ]])
      }
    },
    {
      type = "metric", x = 0, y = 12, width = 12, height = 6
      properties = {
        title  = "Backlog per instance (target: cpu ${local.cpu_backlog_target}, gpu ${local.gpu_backlog_target})"
        region = local.region
        period = 60
        metrics = flatten([for k, f in local.fleets : [
          ["AWS/SQS", "ApproximateNumberOfMessagesVisible", "QueueName", f.queue_name, { id = "${k}v", stat = "Sum", visible = false }],
          ["AWS/SQS", "ApproximateNumberOfMessagesNotVisible", "QueueName", f.queue_name, { id = "${k}f", stat = "Sum", visible = false }],
          ["AWS/AutoScaling", "GroupInServiceInstances", "AutoScalingGroupName", f.asg_name, { id = "${k}n", stat = "Average", visible = false }],
          [{ expression = "(${k}v + ${k}f) / IF(${k}n > 0, ${k}n, 1)", label = "${k} backlog per instance", id = "${k}b" }],
        ]])
      }
    },
    {
      type = "metric", x = 12, y = 12, width = 12, height = 6
      properties = {
        title  = "Worker errors and short-clip Lambda"
        region = local.region
        stat   = "Sum"
        period = 300
        metrics = [
          ["hlsfleet", "WorkerErrors", { label = "worker error lines" }],
          ["AWS/Lambda", "Invocations", "FunctionName", aws_lambda_function.clips.function_name, { label = "lambda invocations" }],
          ["AWS/Lambda", "Errors", "FunctionName", aws_lambda_function.clips.function_name, { label = "lambda errors" }],
        ]
      }
    },
  ]
}

resource "aws_cloudwatch_dashboard" "fleet" {
  dashboard_name = var.name
  dashboard_body = jsonencode({ widgets = local.dashboard_widgets })
}
