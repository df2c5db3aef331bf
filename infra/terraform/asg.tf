# CPU and GPU worker fleets: spot-first mixed instances policies over at
# least six instance types, capacity rebalancing, a termination lifecycle
# hook the worker completes after draining, and target tracking on backlog
# per instance computed with metric math.

data "aws_ssm_parameter" "cpu_ami" {
  name = var.cpu_ami_ssm_parameter
}

data "aws_ssm_parameter" "gpu_ami" {
  name = var.gpu_ami_ssm_parameter
}

resource "aws_cloudwatch_log_group" "workers" {
  name              = "/hlsfleet/${var.name}/workers"
  retention_in_days = var.log_retention_days
  tags              = local.tags
}

locals {
  fleets = {
    cpu = {
      asg_name       = local.cpu_asg_name
      image          = var.worker_image
      gpu            = false
      instance_types = var.cpu_instance_types
      min_size       = var.cpu_min_size
      max_size       = var.cpu_max_size
      od_base        = var.cpu_on_demand_base_capacity
      od_above_base  = var.cpu_on_demand_percentage_above_base
      queue_name     = aws_sqs_queue.jobs.name
      backlog_target = local.cpu_backlog_target
      workers = [
        { name = "vod", args = local.cpu_vod_worker_args },
        { name = "live", args = local.cpu_live_worker_args },
      ]
    }
    gpu = {
      asg_name       = local.gpu_asg_name
      image          = var.worker_gpu_image
      gpu            = true
      instance_types = var.gpu_instance_types
      min_size       = var.gpu_min_size
      max_size       = var.gpu_max_size
      od_base        = var.gpu_on_demand_base_capacity
      od_above_base  = var.gpu_on_demand_percentage_above_base
      queue_name     = aws_sqs_queue.gpu.name
      backlog_target = local.gpu_backlog_target
      workers = [
        { name = "gpu", args = local.gpu_worker_args },
      ]
    }
  }
}

resource "aws_launch_template" "worker" {
  for_each = local.fleets

  # The AMI stays out of local.fleets: SSM values are sensitive, and
  # for_each cannot take a map holding one.
  name_prefix            = "${each.value.asg_name}-"
  image_id               = each.value.gpu ? data.aws_ssm_parameter.gpu_ami.value : data.aws_ssm_parameter.cpu_ami.value
  vpc_security_group_ids = var.security_group_ids
  update_default_version = true
  ebs_optimized          = true

  iam_instance_profile {
    arn = aws_iam_instance_profile.worker.arn
  }

  # IMDSv2 only. Hop limit 2: a container on a bridge network is one hop
  # further away than the host (the workers use host networking, but the
  # lifecycle watcher must also work from a bridged container).
  metadata_options {
    http_endpoint               = "enabled"
    http_tokens                 = "required"
    http_put_response_hop_limit = 2
    instance_metadata_tags      = "enabled"
  }

  block_device_mappings {
    device_name = "/dev/xvda"
    ebs {
      volume_size           = var.root_volume_gb
      volume_type           = "gp3"
      encrypted             = true
      delete_on_termination = true
    }
  }

  monitoring {
    enabled = true
  }

  user_data = base64encode(templatefile("${path.module}/user_data.sh.tftpl", {
    region         = local.region
    image          = each.value.image
    gpu            = each.value.gpu
    workers        = each.value.workers
    stop_timeout   = local.container_stop_seconds
    log_group      = aws_cloudwatch_log_group.workers.name
    rules_json     = jsonencode(local.worker_rules)
    ecr_registries = local.ecr_registries
  }))

  tag_specifications {
    resource_type = "instance"
    tags          = merge(local.tags, { Name = each.value.asg_name })
  }

  tag_specifications {
    resource_type = "volume"
    tags          = merge(local.tags, { Name = each.value.asg_name })
  }

  tags = local.tags
}

resource "aws_autoscaling_group" "worker" {
  for_each = local.fleets

  name                      = each.value.asg_name
  vpc_zone_identifier       = var.subnet_ids
  min_size                  = each.value.min_size
  max_size                  = each.value.max_size
  capacity_rebalance        = true
  default_instance_warmup   = 120
  health_check_type         = "EC2"
  health_check_grace_period = 120
  enabled_metrics = [
    "GroupDesiredCapacity",
    "GroupInServiceInstances",
    "GroupPendingInstances",
    "GroupTerminatingInstances",
  ]

  mixed_instances_policy {
    instances_distribution {
      on_demand_base_capacity                  = each.value.od_base
      on_demand_percentage_above_base_capacity = each.value.od_above_base
      spot_allocation_strategy                 = var.spot_allocation_strategy
    }

    launch_template {
      launch_template_specification {
        launch_template_id = aws_launch_template.worker[each.key].id
        version            = "$Latest"
      }

      dynamic "override" {
        for_each = each.value.instance_types
        content {
          instance_type = override.value
        }
      }
    }
  }

  # Declared inline so it exists before the first instance launches. Scale-in,
  # rebalancing and instance refresh wait here while the worker drains; it
  # calls CompleteLifecycleAction when done, CONTINUE is the fallback.
  initial_lifecycle_hook {
    name                 = local.lifecycle_hook_name
    lifecycle_transition = "autoscaling:EC2_INSTANCE_TERMINATING"
    heartbeat_timeout    = local.lifecycle_heartbeat_seconds
    default_result       = "CONTINUE"
  }

  # Upgrades replace instances gradually; each old one drains through the hook.
  instance_refresh {
    strategy = "Rolling"
    preferences {
      min_healthy_percentage = 90
      instance_warmup        = 120
    }
  }

  dynamic "tag" {
    for_each = merge(local.tags, { Name = each.value.asg_name })
    content {
      key                 = tag.key
      value               = tag.value
      propagate_at_launch = true
    }
  }

  lifecycle {
    ignore_changes = [desired_capacity]
  }
}

# Target tracking on backlog per instance:
#   (ApproximateNumberOfMessagesVisible + ApproximateNumberOfMessagesNotVisible)
#     / GroupInServiceInstances   (an empty group counts as 1, so it scales from 0)
# with target = acceptable latency / seconds per job.
resource "aws_autoscaling_policy" "backlog" {
  for_each = local.fleets

  name                   = "${each.value.asg_name}-backlog-per-instance"
  autoscaling_group_name = aws_autoscaling_group.worker[each.key].name
  policy_type            = "TargetTrackingScaling"

  target_tracking_configuration {
    target_value     = each.value.backlog_target
    disable_scale_in = false

    customized_metric_specification {
      metrics {
        id          = "visible"
        return_data = false
        metric_stat {
          stat = "Sum"
          metric {
            namespace   = "AWS/SQS"
            metric_name = "ApproximateNumberOfMessagesVisible"
            dimensions {
              name  = "QueueName"
              value = each.value.queue_name
            }
          }
        }
      }

      metrics {
        id          = "inflight"
        return_data = false
        metric_stat {
          stat = "Sum"
          metric {
            namespace   = "AWS/SQS"
            metric_name = "ApproximateNumberOfMessagesNotVisible"
            dimensions {
              name  = "QueueName"
              value = each.value.queue_name
            }
          }
        }
      }

      metrics {
        id          = "instances"
        return_data = false
        metric_stat {
          stat = "Average"
          metric {
            namespace   = "AWS/AutoScaling"
            metric_name = "GroupInServiceInstances"
            dimensions {
              name  = "AutoScalingGroupName"
              value = each.value.asg_name
            }
          }
        }
      }

      metrics {
        id          = "backlog_per_instance"
        label       = "Backlog per instance"
        expression  = "(visible + inflight) / IF(instances > 0, instances, 1)"
        return_data = true
      }
    }
  }
}
