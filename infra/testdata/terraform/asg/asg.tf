# Broken on purpose. "ondemand": 100 % on-demand, lowest-price, 3 types, no
# capacity rebalance, no termination hook, no backlog tracking.
# "shorthook": right otherwise, but its hook (120 s) is shorter than the
# worker's drain timeout (300 s) plus the margin.
resource "aws_sqs_queue" "jobs" {
  name = "jobs"
}

locals {
  args = ["worker", "--queue", aws_sqs_queue.jobs.url, "--visibility", "300s", "--drain-timeout", "300s", "--lifecycle-hook", "drain"]
}

resource "aws_launch_template" "worker" {
  name_prefix = "worker-"
  user_data   = base64encode(templatefile("${path.module}/user_data.sh.tftpl", { workers = [{ name = "vod", args = local.args }] }))
}

resource "aws_autoscaling_group" "ondemand" {
  name     = "ondemand"
  min_size = 0
  max_size = 2

  mixed_instances_policy {
    instances_distribution {
      on_demand_percentage_above_base_capacity = 100
      spot_allocation_strategy                 = "lowest-price"
    }
    launch_template {
      launch_template_specification {
        launch_template_id = aws_launch_template.worker.id
      }
      override {
        instance_type = "c7i.2xlarge"
      }
      override {
        instance_type = "c6i.2xlarge"
      }
      override {
        instance_type = "c5.2xlarge"
      }
    }
  }
}

resource "aws_autoscaling_group" "shorthook" {
  name               = "shorthook"
  min_size           = 0
  max_size           = 2
  capacity_rebalance = true

  mixed_instances_policy {
    instances_distribution {
      on_demand_percentage_above_base_capacity = 0
      spot_allocation_strategy                 = "price-capacity-optimized"
    }
    launch_template {
      launch_template_specification {
        launch_template_id = aws_launch_template.worker.id
      }
      dynamic "override" {
        for_each = ["c7i.2xlarge", "c6i.2xlarge", "c7a.2xlarge", "c6a.2xlarge", "c5.2xlarge", "m7i.2xlarge"]
        content {
          instance_type = override.value
        }
      }
    }
  }

  initial_lifecycle_hook {
    name                 = "drain"
    lifecycle_transition = "autoscaling:EC2_INSTANCE_TERMINATING"
    heartbeat_timeout    = 120
  }
}

resource "aws_autoscaling_policy" "shorthook" {
  name                   = "backlog"
  autoscaling_group_name = aws_autoscaling_group.shorthook.name
  policy_type            = "TargetTrackingScaling"
  target_tracking_configuration {
    target_value = 10
    customized_metric_specification {
      metrics {
        id = "v"
        metric_stat {
          stat = "Sum"
          metric {
            namespace   = "AWS/SQS"
            metric_name = "ApproximateNumberOfMessagesVisible"
          }
        }
        return_data = false
      }
      metrics {
        id = "f"
        metric_stat {
          stat = "Sum"
          metric {
            namespace   = "AWS/SQS"
            metric_name = "ApproximateNumberOfMessagesNotVisible"
          }
        }
        return_data = false
      }
      metrics {
        id = "n"
        metric_stat {
          stat = "Average"
          metric {
            namespace   = "AWS/AutoScaling"
            metric_name = "GroupInServiceInstances"
          }
        }
        return_data = false
      }
      metrics {
        id          = "b"
        expression  = "(v + f) / n"
        return_data = true
      }
    }
  }
}
